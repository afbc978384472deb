"""Contains all the data models used in inputs/outputs"""

from .aspect_ratio import AspectRatio
from .imagen_input import ImagenInput
from .invalid_field import InvalidField
from .model_name import ModelName
from .model_owner import ModelOwner
from .output_format import OutputFormat
from .prediction import Prediction
from .prediction_delivery import PredictionDelivery
from .prediction_input import PredictionInput
from .prediction_metrics import PredictionMetrics
from .prediction_page import PredictionPage
from .prediction_request import PredictionRequest
from .prediction_source import PredictionSource
from .prediction_status import PredictionStatus
from .prediction_urls import PredictionUrls
from .problem import Problem
from .safety_filter_level import SafetyFilterLevel
from .webhook_event_type import WebhookEventType
from .webhook_secret import WebhookSecret

__all__ = (
    "AspectRatio",
    "ImagenInput",
    "InvalidField",
    "ModelName",
    "ModelOwner",
    "OutputFormat",
    "Prediction",
    "PredictionDelivery",
    "PredictionInput",
    "PredictionMetrics",
    "PredictionPage",
    "PredictionRequest",
    "PredictionSource",
    "PredictionStatus",
    "PredictionUrls",
    "Problem",
    "SafetyFilterLevel",
    "WebhookEventType",
    "WebhookSecret",
)
