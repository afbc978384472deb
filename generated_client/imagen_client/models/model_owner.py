from typing import Literal

ModelOwner = Literal["google"]

MODEL_OWNER_VALUES: set[ModelOwner] = {
    "google",
}


def check_model_owner(value: str) -> ModelOwner:
    if value in MODEL_OWNER_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {MODEL_OWNER_VALUES!r}")
