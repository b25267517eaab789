"""The FastAPI application: the page (``/``, plain HTML/JS/CSS shipped in the package, nothing fetched
from elsewhere) and the JSON API under ``/api`` (OpenAPI schema at ``/openapi.json``, docs at
``/docs``: Swagger UI from the ``fastapi-offline`` package's own copy, since FastAPI's default loads it
and a favicon from CDNs and shows a blank page offline; no ``/redoc``, whose bundle still fetches a logo
from the web).

Runs are looked up by name in the dict built at start; no part of a request becomes a path. Request
bodies above ``max_upload_bytes`` get 413 before they are parsed; every refusal is a 4xx whose
``detail`` is one line. Each response carries ``Server-Timing: app;dur=MS``, the time spent in the
application (what the serving benchmark reports).
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, which name
# request models defined inside create_app (pydantic is imported only when serving)
import time
from importlib import resources
from typing import Any, Literal

from ..errors import NeuralzooError
from .jobs import ServedRun
from .uploads import BadInput, check_number, pixels_to_input, upload_to_input

OVERLAYS = Literal["none", "grad-cam", "saliency"]


def require_serving() -> None:
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise NeuralzooError("serving needs FastAPI, fastapi-offline, uvicorn and python-multipart: "
                             "pip install 'neuralzoo[serve]'") from None


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (413, by header or while reading) and
    time each request into a ``Server-Timing`` header."""

    def __init__(self, app: Any, limit: int = 1 << 20) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        chunks, size, more = [], 0, True
        while more:   # bodies are small (the limit): read, count, replay
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return await self._refuse(send)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def timed(message: dict) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={took:.2f}".encode())]
            await send(message)

        await self.app(scope, replay, timed)

    async def _refuse(self, send: Any) -> None:
        body = ('{"detail": "request body larger than the upload limit of %d bytes"}' % self.limit).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(runs: list[ServedRun], max_upload_bytes: int = 1 << 20) -> Any:
    """The application over ``runs`` (their names unique)."""
    require_serving()
    from fastapi import Body, File, HTTPException, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline
    from pydantic import BaseModel, ConfigDict, Field

    from ..version import __version__

    served = {run.name: run for run in runs}
    static = resources.files("neuralzoo.serve") / "static"
    app = FastAPIOffline(title="neuralzoo", version=__version__, redoc_url=None,
                         description="Trained neuralzoo runs: classify, explore latent spaces, sample, "
                                     "forecast, generate text.")

    def one_line(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": " ".join(message.split())}, status_code=status)

    @app.exception_handler(BadInput)
    async def bad_input(_request: Request, error: BadInput) -> JSONResponse:
        return one_line(error.status, str(error))

    @app.exception_handler(NeuralzooError)
    async def refused(_request: Request, error: NeuralzooError) -> JSONResponse:
        return one_line(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query"))
        message = first.get("msg", "invalid")
        if first.get("type") == "finite_number":   # NaN and infinities, checked before any bound
            message = f"must be a finite number, not {first.get('input')}"
        return one_line(422, f"{where or 'body'}: {message}")

    def find(name: str, job: str | None = None) -> ServedRun:
        """The run called ``name`` (404 if none is), refusing a job it cannot do before any input
        is read."""
        if name not in served:
            raise HTTPException(404, f"no run {name!r} is served; runs: {', '.join(served)}")
        if job is not None:
            served[name].require(job)
        return served[name]

    # every float the API takes must be finite: a NaN point once decoded to a blank image, and a NaN
    # fails a bound's comparison with a misleading "should be <= 5"
    finite = ConfigDict(allow_inf_nan=False)

    class Pixels(BaseModel):
        pixels: list = Field(description="values in [0, 1] in the model's input shape (or H x W)")
        overlay: OVERLAYS = "none"

    class Point(BaseModel):
        model_config = finite
        point: tuple[float, float] = Field(description="a position on the latent map")

    class Prompt(BaseModel):
        model_config = finite
        prompt: str = Field("", max_length=500)
        length: int = Field(200, ge=0, le=2000)
        temperature: float = Field(0.8, ge=0, le=5)
        seed: int = 0

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/api/runs", summary="the served runs and what each can do")
    def list_runs() -> list[dict]:
        return [run.describe() for run in served.values()]

    @app.get("/api/runs/{name}", summary="one run")
    def describe(name: str) -> dict:
        return find(name).describe()

    @app.post("/api/runs/{name}/predict", summary="class probabilities of drawn pixels (+ overlay)")
    def predict(name: str, body: Pixels) -> dict:
        run = find(name, "classify")
        return run.predict(pixels_to_input(body.pixels, run.model.info), body.overlay)

    @app.post("/api/runs/{name}/predict/upload", summary="class probabilities of an uploaded file")
    def predict_upload(name: str, file: UploadFile = File(...), overlay: OVERLAYS = "none") -> dict:
        run = find(name, "classify")
        x, names = upload_to_input(file.file.read(), file.filename, run.model.info)
        return {**run.predict(x, overlay), "names": names}

    @app.get("/api/runs/{name}/latent-map", summary="2-D map of the test set's codes")
    def latent_map(name: str) -> dict:
        return find(name).latent_map()

    @app.post("/api/runs/{name}/decode", summary="decode a point of the latent map")
    def decode(name: str, body: Point) -> dict:
        return find(name).decode_point(body.point)

    @app.get("/api/runs/{name}/interpolate", summary="decode between two test samples' codes")
    def interpolate(name: str, first: int = 0, second: int = 1,
                    t: float = Query(0.5, ge=0, le=1, allow_inf_nan=False)) -> dict:
        return find(name).interpolate(first, second, t)

    @app.post("/api/runs/{name}/anomaly", summary="anomaly score of drawn pixels")
    def anomaly(name: str, body: Pixels) -> dict:
        run = find(name, "anomaly")
        return run.anomaly(pixels_to_input(body.pixels, run.model.info))

    @app.post("/api/runs/{name}/anomaly/upload", summary="anomaly scores of an uploaded file")
    def anomaly_upload(name: str, file: UploadFile = File(...)) -> dict:
        run = find(name, "anomaly")
        x, names = upload_to_input(file.file.read(), file.filename, run.model.info)
        return {**run.anomaly(x), "names": names}

    @app.get("/api/runs/{name}/samples", summary="a grid of generated samples")
    def samples(name: str, count: int = Query(16, ge=1, le=64),
                temperature: float = Query(1.0, allow_inf_nan=False),
                seed: int = 0, label: int | None = None) -> dict:
        check_number("temperature", temperature, 0.0, 5.0)
        return find(name).samples(count, temperature, seed, label)

    @app.get("/api/runs/{name}/forecast", summary="a forecast with its baselines")
    def forecast(name: str, horizon: int | None = Query(None, ge=1),
                 origin: int | None = Query(None, ge=0)) -> dict:
        return find(name).forecast(horizon, origin)

    @app.post("/api/runs/{name}/generate", summary="text from a prompt")
    def generate(name: str, body: Prompt = Body(...)) -> dict:
        return find(name).generate(body.prompt, body.length, body.temperature, body.seed)

    app.add_middleware(BodyLimit, limit=max_upload_bytes)
    return app
