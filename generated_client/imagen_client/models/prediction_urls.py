from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="PredictionUrls")


@_attrs_define
class PredictionUrls:
    """Where to reach this prediction.

    Attributes:
        get (str): Read the prediction (the `getPrediction` operation).
        cancel (str): Cancel the prediction (the `cancelPrediction` operation).
        web (str): A page that shows the prediction in a browser.
        stream (str | Unset): Server-sent events of the prediction's output and logs.
    """

    get: str
    cancel: str
    web: str
    stream: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        get = self.get

        cancel = self.cancel

        web = self.web

        stream = self.stream

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "get": get,
                "cancel": cancel,
                "web": web,
            }
        )
        if stream is not UNSET:
            field_dict["stream"] = stream

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        get = d.pop("get")

        cancel = d.pop("cancel")

        web = d.pop("web")

        stream = d.pop("stream", UNSET)

        prediction_urls = cls(
            get=get,
            cancel=cancel,
            web=web,
            stream=stream,
        )

        prediction_urls.additional_properties = d
        return prediction_urls

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
