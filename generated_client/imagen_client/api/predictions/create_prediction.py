from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.model_name import ModelName
from ...models.model_owner import ModelOwner
from ...models.prediction import Prediction
from ...models.prediction_request import PredictionRequest
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    model_owner: ModelOwner,
    model_name: ModelName,
    *,
    body: PredictionRequest,
    prefer: str | Unset = UNSET,
    cancel_after: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(prefer, Unset):
        headers["Prefer"] = prefer

    if not isinstance(cancel_after, Unset):
        headers["Cancel-After"] = cancel_after

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/models/{model_owner}/{model_name}/predictions".format(
            model_owner=quote(str(model_owner), safe=""),
            model_name=quote(str(model_name), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Prediction | Problem | None:
    if response.status_code == 200:
        response_200 = Prediction.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = Prediction.from_dict(response.json())

        return response_201

    if response.status_code == 202:
        response_202 = Prediction.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Prediction | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    model_owner: ModelOwner,
    model_name: ModelName,
    *,
    client: AuthenticatedClient | Client,
    body: PredictionRequest,
    prefer: str | Unset = UNSET,
    cancel_after: str | Unset = UNSET,
) -> Response[Prediction | Problem]:
    """Start an Imagen 4 Ultra prediction

     Queue a new prediction of an official model. The answer is the
    prediction as it stands, normally in status `starting`.

    With `Prefer: wait` (or `wait=N`, 1 to 60 seconds) the server holds the
    request until the prediction ends or the time runs out. A prediction
    that ended in time comes back with 201 and its final `output`; one that
    did not comes back with 202 and can be read again at `Location` or
    `urls.get`.

    Some resellers answer a successful create with 200 instead of 201; the
    body is the same prediction.

    Args:
        model_owner (ModelOwner):
        model_name (ModelName):
        prefer (str | Unset):
        cancel_after (str | Unset):
        body (PredictionRequest): Body of a create request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Prediction | Problem]
    """

    kwargs = _get_kwargs(
        model_owner=model_owner,
        model_name=model_name,
        body=body,
        prefer=prefer,
        cancel_after=cancel_after,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    model_owner: ModelOwner,
    model_name: ModelName,
    *,
    client: AuthenticatedClient | Client,
    body: PredictionRequest,
    prefer: str | Unset = UNSET,
    cancel_after: str | Unset = UNSET,
) -> Prediction | Problem | None:
    """Start an Imagen 4 Ultra prediction

     Queue a new prediction of an official model. The answer is the
    prediction as it stands, normally in status `starting`.

    With `Prefer: wait` (or `wait=N`, 1 to 60 seconds) the server holds the
    request until the prediction ends or the time runs out. A prediction
    that ended in time comes back with 201 and its final `output`; one that
    did not comes back with 202 and can be read again at `Location` or
    `urls.get`.

    Some resellers answer a successful create with 200 instead of 201; the
    body is the same prediction.

    Args:
        model_owner (ModelOwner):
        model_name (ModelName):
        prefer (str | Unset):
        cancel_after (str | Unset):
        body (PredictionRequest): Body of a create request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Prediction | Problem
    """

    return sync_detailed(
        model_owner=model_owner,
        model_name=model_name,
        client=client,
        body=body,
        prefer=prefer,
        cancel_after=cancel_after,
    ).parsed


async def asyncio_detailed(
    model_owner: ModelOwner,
    model_name: ModelName,
    *,
    client: AuthenticatedClient | Client,
    body: PredictionRequest,
    prefer: str | Unset = UNSET,
    cancel_after: str | Unset = UNSET,
) -> Response[Prediction | Problem]:
    """Start an Imagen 4 Ultra prediction

     Queue a new prediction of an official model. The answer is the
    prediction as it stands, normally in status `starting`.

    With `Prefer: wait` (or `wait=N`, 1 to 60 seconds) the server holds the
    request until the prediction ends or the time runs out. A prediction
    that ended in time comes back with 201 and its final `output`; one that
    did not comes back with 202 and can be read again at `Location` or
    `urls.get`.

    Some resellers answer a successful create with 200 instead of 201; the
    body is the same prediction.

    Args:
        model_owner (ModelOwner):
        model_name (ModelName):
        prefer (str | Unset):
        cancel_after (str | Unset):
        body (PredictionRequest): Body of a create request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Prediction | Problem]
    """

    kwargs = _get_kwargs(
        model_owner=model_owner,
        model_name=model_name,
        body=body,
        prefer=prefer,
        cancel_after=cancel_after,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    model_owner: ModelOwner,
    model_name: ModelName,
    *,
    client: AuthenticatedClient | Client,
    body: PredictionRequest,
    prefer: str | Unset = UNSET,
    cancel_after: str | Unset = UNSET,
) -> Prediction | Problem | None:
    """Start an Imagen 4 Ultra prediction

     Queue a new prediction of an official model. The answer is the
    prediction as it stands, normally in status `starting`.

    With `Prefer: wait` (or `wait=N`, 1 to 60 seconds) the server holds the
    request until the prediction ends or the time runs out. A prediction
    that ended in time comes back with 201 and its final `output`; one that
    did not comes back with 202 and can be read again at `Location` or
    `urls.get`.

    Some resellers answer a successful create with 200 instead of 201; the
    body is the same prediction.

    Args:
        model_owner (ModelOwner):
        model_name (ModelName):
        prefer (str | Unset):
        cancel_after (str | Unset):
        body (PredictionRequest): Body of a create request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Prediction | Problem
    """

    return (
        await asyncio_detailed(
            model_owner=model_owner,
            model_name=model_name,
            client=client,
            body=body,
            prefer=prefer,
            cancel_after=cancel_after,
        )
    ).parsed
