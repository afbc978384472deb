from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.webhook_event_type import WebhookEventType, check_webhook_event_type
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.imagen_input import ImagenInput


T = TypeVar("T", bound="PredictionRequest")


@_attrs_define
class PredictionRequest:
    """Body of a create request.

    Attributes:
        input_ (ImagenInput): What to generate. Only the prompt is required.
        webhook (str | Unset): HTTP(S) URL that receives the prediction, signed, as it changes
            (see the `predictionWebhook` callback).
        webhook_events_filter (list[WebhookEventType] | Unset): Which events are sent to `webhook`; all four when
            omitted.
        stream (bool | Unset): Ask for a stream URL. Ignored; `urls.stream` is always present for this model.
    """

    input_: ImagenInput
    webhook: str | Unset = UNSET
    webhook_events_filter: list[WebhookEventType] | Unset = UNSET
    stream: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        input_ = self.input_.to_dict()

        webhook = self.webhook

        webhook_events_filter: list[str] | Unset = UNSET
        if not isinstance(self.webhook_events_filter, Unset):
            webhook_events_filter = []
            for webhook_events_filter_item_data in self.webhook_events_filter:
                webhook_events_filter_item: str = webhook_events_filter_item_data
                webhook_events_filter.append(webhook_events_filter_item)

        stream = self.stream

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "input": input_,
            }
        )
        if webhook is not UNSET:
            field_dict["webhook"] = webhook
        if webhook_events_filter is not UNSET:
            field_dict["webhook_events_filter"] = webhook_events_filter
        if stream is not UNSET:
            field_dict["stream"] = stream

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.imagen_input import ImagenInput  # noqa: PLC0415

        d = dict(src_dict)
        input_ = ImagenInput.from_dict(d.pop("input"))

        webhook = d.pop("webhook", UNSET)

        _webhook_events_filter = d.pop("webhook_events_filter", UNSET)
        webhook_events_filter: list[WebhookEventType] | Unset = UNSET
        if _webhook_events_filter is not UNSET:
            webhook_events_filter = []
            for webhook_events_filter_item_data in _webhook_events_filter:
                webhook_events_filter_item = check_webhook_event_type(webhook_events_filter_item_data)

                webhook_events_filter.append(webhook_events_filter_item)

        stream = d.pop("stream", UNSET)

        prediction_request = cls(
            input_=input_,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            stream=stream,
        )

        return prediction_request
