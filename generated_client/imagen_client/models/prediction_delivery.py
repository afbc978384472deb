from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.prediction_source import PredictionSource, check_prediction_source
from ..models.prediction_status import PredictionStatus, check_prediction_status
from ..models.webhook_event_type import WebhookEventType, check_webhook_event_type
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.prediction_input import PredictionInput
    from ..models.prediction_metrics import PredictionMetrics
    from ..models.prediction_urls import PredictionUrls


T = TypeVar("T", bound="PredictionDelivery")


@_attrs_define
class PredictionDelivery:
    """The body of a webhook delivery: the prediction as it was at the event,
    followed by the create's `webhook` and `webhook_events_filter` (all four
    events when the create gave none), as real deliveries carry them.

        Attributes:
            id (str): Unique id of the prediction.
            model (str): `owner/name` of the model, here `google/imagen-4-ultra`.
            version (str): Version id; `hidden` for official models.
            input_ (PredictionInput): The input exactly as it was sent (defaults are not filled in). Empty
                once the prediction's data has been removed.
            output (None | str): URL of the generated image once the prediction succeeded; null before, and after data
                removal.
            error (None | str): Why the prediction failed, or null.
            status (PredictionStatus): `starting` (queued or booting), `processing` (running), and the
                terminal `succeeded`, `failed`, `canceled` (stopped by a cancel or a
                deadline while running) and `aborted` (stopped before it started).
            data_removed (bool): True once input, output and logs have been deleted.
            created_at (datetime.datetime): When the prediction was created.
            urls (PredictionUrls): Where to reach this prediction.
            webhook (str): The URL the delivery is sent to.
            webhook_events_filter (list[WebhookEventType]): The events the create asked for.
            logs (None | str | Unset): What the model printed so far; null until it has started.
            started_at (datetime.datetime | None | Unset): When the model started running; absent (or null) before.
            completed_at (datetime.datetime | None | Unset): When the prediction reached a terminal status; absent (or null)
                before.
            source (PredictionSource | Unset): Whether the prediction was created through the API or the website.
            metrics (PredictionMetrics | Unset): Timings and counts; present once the prediction has ended.
            deadline (datetime.datetime | Unset): When the prediction is stopped if it has not ended; present only when
                the create set one (`Cancel-After`).
            deployment (None | str | Unset): Deployment that ran the prediction, or null.
    """

    id: str
    model: str
    version: str
    input_: PredictionInput
    output: None | str
    error: None | str
    status: PredictionStatus
    data_removed: bool
    created_at: datetime.datetime
    urls: PredictionUrls
    webhook: str
    webhook_events_filter: list[WebhookEventType]
    logs: None | str | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    completed_at: datetime.datetime | None | Unset = UNSET
    source: PredictionSource | Unset = UNSET
    metrics: PredictionMetrics | Unset = UNSET
    deadline: datetime.datetime | Unset = UNSET
    deployment: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        model = self.model

        version = self.version

        input_ = self.input_.to_dict()

        output: None | str
        output = self.output

        error: None | str
        error = self.error

        status: str = self.status

        data_removed = self.data_removed

        created_at = self.created_at.isoformat()

        urls = self.urls.to_dict()

        webhook = self.webhook

        webhook_events_filter = []
        for webhook_events_filter_item_data in self.webhook_events_filter:
            webhook_events_filter_item: str = webhook_events_filter_item_data
            webhook_events_filter.append(webhook_events_filter_item)

        logs: None | str | Unset
        if isinstance(self.logs, Unset):
            logs = UNSET
        else:
            logs = self.logs

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        completed_at: None | str | Unset
        if isinstance(self.completed_at, Unset):
            completed_at = UNSET
        elif isinstance(self.completed_at, datetime.datetime):
            completed_at = self.completed_at.isoformat()
        else:
            completed_at = self.completed_at

        source: str | Unset = UNSET
        if not isinstance(self.source, Unset):
            source = self.source

        metrics: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metrics, Unset):
            metrics = self.metrics.to_dict()

        deadline: str | Unset = UNSET
        if not isinstance(self.deadline, Unset):
            deadline = self.deadline.isoformat()

        deployment: None | str | Unset
        if isinstance(self.deployment, Unset):
            deployment = UNSET
        else:
            deployment = self.deployment

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "model": model,
                "version": version,
                "input": input_,
                "output": output,
                "error": error,
                "status": status,
                "data_removed": data_removed,
                "created_at": created_at,
                "urls": urls,
                "webhook": webhook,
                "webhook_events_filter": webhook_events_filter,
            }
        )
        if logs is not UNSET:
            field_dict["logs"] = logs
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if completed_at is not UNSET:
            field_dict["completed_at"] = completed_at
        if source is not UNSET:
            field_dict["source"] = source
        if metrics is not UNSET:
            field_dict["metrics"] = metrics
        if deadline is not UNSET:
            field_dict["deadline"] = deadline
        if deployment is not UNSET:
            field_dict["deployment"] = deployment

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.prediction_input import PredictionInput  # noqa: PLC0415
        from ..models.prediction_metrics import PredictionMetrics  # noqa: PLC0415
        from ..models.prediction_urls import PredictionUrls  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        model = d.pop("model")

        version = d.pop("version")

        input_ = PredictionInput.from_dict(d.pop("input"))

        def _parse_output(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        output = _parse_output(d.pop("output"))

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        status = check_prediction_status(d.pop("status"))

        data_removed = d.pop("data_removed")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        urls = PredictionUrls.from_dict(d.pop("urls"))

        webhook = d.pop("webhook")

        webhook_events_filter = []
        _webhook_events_filter = d.pop("webhook_events_filter")
        for webhook_events_filter_item_data in _webhook_events_filter:
            webhook_events_filter_item = check_webhook_event_type(webhook_events_filter_item_data)

            webhook_events_filter.append(webhook_events_filter_item)

        def _parse_logs(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        logs = _parse_logs(d.pop("logs", UNSET))

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        def _parse_completed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                completed_at_type_0 = datetime.datetime.fromisoformat(data)

                return completed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        completed_at = _parse_completed_at(d.pop("completed_at", UNSET))

        _source = d.pop("source", UNSET)
        source: PredictionSource | Unset
        if isinstance(_source, Unset):
            source = UNSET
        else:
            source = check_prediction_source(_source)

        _metrics = d.pop("metrics", UNSET)
        metrics: PredictionMetrics | Unset
        if isinstance(_metrics, Unset):
            metrics = UNSET
        else:
            metrics = PredictionMetrics.from_dict(_metrics)

        _deadline = d.pop("deadline", UNSET)
        deadline: datetime.datetime | Unset
        if isinstance(_deadline, Unset):
            deadline = UNSET
        else:
            deadline = datetime.datetime.fromisoformat(_deadline)

        def _parse_deployment(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        deployment = _parse_deployment(d.pop("deployment", UNSET))

        prediction_delivery = cls(
            id=id,
            model=model,
            version=version,
            input_=input_,
            output=output,
            error=error,
            status=status,
            data_removed=data_removed,
            created_at=created_at,
            urls=urls,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            logs=logs,
            started_at=started_at,
            completed_at=completed_at,
            source=source,
            metrics=metrics,
            deadline=deadline,
            deployment=deployment,
        )

        prediction_delivery.additional_properties = d
        return prediction_delivery

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
