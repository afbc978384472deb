from typing import Literal

ModelName = Literal["imagen-4-ultra"]

MODEL_NAME_VALUES: set[ModelName] = {
    "imagen-4-ultra",
}


def check_model_name(value: str) -> ModelName:
    if value in MODEL_NAME_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {MODEL_NAME_VALUES!r}")
