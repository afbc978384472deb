from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.aspect_ratio import AspectRatio, check_aspect_ratio
from ..models.output_format import OutputFormat, check_output_format
from ..models.safety_filter_level import SafetyFilterLevel, check_safety_filter_level
from ..types import UNSET, Unset

T = TypeVar("T", bound="PredictionInput")


@_attrs_define
class PredictionInput:
    """The input exactly as it was sent (defaults are not filled in). Empty
    once the prediction's data has been removed.

        Attributes:
            prompt (str | Unset): Text describing the image.
            aspect_ratio (AspectRatio | Unset): Width to height of the generated image.
            output_format (OutputFormat | Unset): File format of the generated image.
            safety_filter_level (SafetyFilterLevel | Unset): How much the safety filter blocks: `block_low_and_above` is the
                strictest, `block_only_high` the most permissive.
    """

    prompt: str | Unset = UNSET
    aspect_ratio: AspectRatio | Unset = UNSET
    output_format: OutputFormat | Unset = UNSET
    safety_filter_level: SafetyFilterLevel | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        prompt = self.prompt

        aspect_ratio: str | Unset = UNSET
        if not isinstance(self.aspect_ratio, Unset):
            aspect_ratio = self.aspect_ratio

        output_format: str | Unset = UNSET
        if not isinstance(self.output_format, Unset):
            output_format = self.output_format

        safety_filter_level: str | Unset = UNSET
        if not isinstance(self.safety_filter_level, Unset):
            safety_filter_level = self.safety_filter_level

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if aspect_ratio is not UNSET:
            field_dict["aspect_ratio"] = aspect_ratio
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if safety_filter_level is not UNSET:
            field_dict["safety_filter_level"] = safety_filter_level

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        prompt = d.pop("prompt", UNSET)

        _aspect_ratio = d.pop("aspect_ratio", UNSET)
        aspect_ratio: AspectRatio | Unset
        if isinstance(_aspect_ratio, Unset):
            aspect_ratio = UNSET
        else:
            aspect_ratio = check_aspect_ratio(_aspect_ratio)

        _output_format = d.pop("output_format", UNSET)
        output_format: OutputFormat | Unset
        if isinstance(_output_format, Unset):
            output_format = UNSET
        else:
            output_format = check_output_format(_output_format)

        _safety_filter_level = d.pop("safety_filter_level", UNSET)
        safety_filter_level: SafetyFilterLevel | Unset
        if isinstance(_safety_filter_level, Unset):
            safety_filter_level = UNSET
        else:
            safety_filter_level = check_safety_filter_level(_safety_filter_level)

        prediction_input = cls(
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            output_format=output_format,
            safety_filter_level=safety_filter_level,
        )

        prediction_input.additional_properties = d
        return prediction_input

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
