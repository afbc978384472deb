from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.invalid_field import InvalidField


T = TypeVar("T", bound="Problem")


@_attrs_define
class Problem:
    """An error, as an RFC 7807 problem-details document.

    Attributes:
        detail (str): What went wrong in this request.
        status (int): The HTTP status code, repeated.
        title (str | Unset): Short summary of the kind of problem.
        invalid_fields (list[InvalidField] | Unset): Each validation problem (422 only).
        retry_after (int | Unset): Seconds until the rate limit resets (429 only).
    """

    detail: str
    status: int
    title: str | Unset = UNSET
    invalid_fields: list[InvalidField] | Unset = UNSET
    retry_after: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        detail = self.detail

        status = self.status

        title = self.title

        invalid_fields: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.invalid_fields, Unset):
            invalid_fields = []
            for invalid_fields_item_data in self.invalid_fields:
                invalid_fields_item = invalid_fields_item_data.to_dict()
                invalid_fields.append(invalid_fields_item)

        retry_after = self.retry_after

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "detail": detail,
                "status": status,
            }
        )
        if title is not UNSET:
            field_dict["title"] = title
        if invalid_fields is not UNSET:
            field_dict["invalid_fields"] = invalid_fields
        if retry_after is not UNSET:
            field_dict["retry_after"] = retry_after

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.invalid_field import InvalidField  # noqa: PLC0415

        d = dict(src_dict)
        detail = d.pop("detail")

        status = d.pop("status")

        title = d.pop("title", UNSET)

        _invalid_fields = d.pop("invalid_fields", UNSET)
        invalid_fields: list[InvalidField] | Unset = UNSET
        if _invalid_fields is not UNSET:
            invalid_fields = []
            for invalid_fields_item_data in _invalid_fields:
                invalid_fields_item = InvalidField.from_dict(invalid_fields_item_data)

                invalid_fields.append(invalid_fields_item)

        retry_after = d.pop("retry_after", UNSET)

        problem = cls(
            detail=detail,
            status=status,
            title=title,
            invalid_fields=invalid_fields,
            retry_after=retry_after,
        )

        problem.additional_properties = d
        return problem

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
