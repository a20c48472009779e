"""The local web planner (FastAPI): a page, and a JSON API with its OpenAPI schema at
``/openapi.json``, for running simulations and plans and recording outcomes.

Every submission goes through ``cryoplan.service``: a bad file, or one over the run limits, or
one that names a path, URL or host (registries, NIfTI volumes and label tables are the server's
settings) gets 422 naming the field, the value and what is allowed, the same line the command
line prints, and nothing is queued. Runs execute in worker processes the server owns
(``jobs.Runs``); ``DELETE /api/runs/{id}`` cancels one, and stopping the server ends them all.
Uploads larger than ``max_upload_bytes`` get 413. A patient's CT is uploaded as a file (``POST
/api/cts``, at most ``max_ct_bytes``; ``scans``) and a plan names it by the id the server gave it
(``ct``), never by a path; it is read only by the run. Files are served only from the data folder,
by run id. With a token, every request must carry it (``Authorization: Bearer TOKEN`` or
``?token=TOKEN``). Error messages never repeat a database password.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import threading
import time
from importlib import resources
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cryoplan import __version__, service
from cryoplan.anatomy.labels import anatomy_data
from cryoplan.catalog import list_probes
from cryoplan.config import translate_error
from cryoplan.errors import Busy, InputError
from cryoplan.planning import adjust
from cryoplan.planning.space import MAX_OFFSET_MM, MAX_TILT_DEG
from cryoplan.protocol import cycles as freeze_thaw
from cryoplan.report.reading import read_result
from cryoplan.rules import UNMODELLED_GASES
from cryoplan.store.entries import from_result
from cryoplan.web.jobs import NotRunning, QueueFull, Runs, RunStatus
from cryoplan.web.scans import Scans, TooMany

RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="a run id (32 hex digits)")]
ScanId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="an uploaded CT's id (32 hex digits)")]
TEMPLATES: dict[str, tuple[Literal["simulation", "plan"], str, str]] = {
    "demo": ("simulation", "demo.toml", "2.0 mm N2O probe beside an L4 medial branch (simulation)"),
    "plan-l4": ("plan", "plan-l4.toml", "L4 medial branch template: choose tip, angle and protocol (plan)"),
    "plan-session": ("plan", "plan-session.toml",
                     "a session: L3, L4 and the L5 dorsal ramus on both sides, one plan per target (plan)"),
}
#: The gases the page offers: those the probe model follows (``rules.UNMODELLED_GASES`` are not).
GASES = tuple(g for g in ("n2o", "ln2", "argon", "co2") if g not in UNMODELLED_GASES)
MAX_TOML_CHARS = 100_000
#: Largest CT upload (bytes): a lumbar CT of 512 x 512 x 600 slices of 16 bits is 315 MB.
MAX_CT_BYTES = 512 * 2**20
#: Request bodies as the files are read: no unknown keys, numbers are numbers (not true/false or
#: text), finite ones only.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ProtocolChoice(BaseModel):
    """A freeze-thaw protocol, named as in plan files ([plan] cycles, freeze_seconds, thaw_seconds)."""

    model_config = STRICT
    cycles: int = Field(ge=1, le=4, description="freeze cycles")
    freeze_seconds: float = Field(gt=0, le=900, description="seconds per freeze")
    thaw_seconds: float = Field(ge=0, le=900, description="passive thaw between freezes, s")


class RunRequest(BaseModel):
    """A built-in template, or a procedure/plan file's text, with optional probe, gas and
    protocol choices that replace the file's."""

    model_config = STRICT
    template: Literal["demo", "plan-l4", "plan-session"] | None = None
    procedure_toml: str | None = Field(None, max_length=MAX_TOML_CHARS)
    kind: Literal["simulation", "plan"] | None = Field(None, description="required with procedure_toml")
    probe: str | None = Field(None, max_length=64, description="a catalog probe name")
    gas: Literal["n2o", "ln2", "argon", "co2"] | None = None
    protocol: ProtocolChoice | None = None
    levels: list[Annotated[str, Field(max_length=8)]] | None = Field(
        None, max_length=10, description="a plan's [anatomy] levels (e.g. L4), checked by the plan's schema")
    sides: list[Literal["left", "right"]] | None = Field(None, min_length=1, max_length=2,
                                                         description="a plan's [anatomy] sides")
    ct: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                           description="an uploaded CT's id (POST /api/cts): the plan's anatomy")
    lowest: str | None = Field(None, max_length=8, description="with ct: the lowest vertebra's level "
                               "(e.g. L5) when the CT holds no sacrum, checked by the plan's schema")
    title: Title | None = None


class ScanOut(BaseModel):
    """An uploaded CT: its id (to name in a plan), its format and size."""

    id: str
    format: Literal["zip", "nii.gz", "nii"]
    bytes: int


class RunOut(BaseModel):
    """A run's state. ``progress`` is the share of the whole run done (for a plan: of the most it
    may need, ``at_most``); ``phase`` what it is doing, ``done`` of ``total`` ``unit`` how far that
    phase has come; ``eta_s`` the seconds left (an upper bound when ``at_most``)."""

    id: str
    kind: Literal["simulation", "plan"]
    title: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    message: str
    phase: str
    done: float
    total: float
    unit: str
    at_most: bool
    eta_s: float | None
    created: float
    started: float | None
    finished: float | None
    error: str | None


class Template(BaseModel):
    name: str
    kind: Literal["simulation", "plan"]
    description: str
    toml: str


class Options(BaseModel):
    templates: list[Template]
    probes: list[dict[str, str]]
    gases: list[str]
    levels: list[str]


class AdjustIn(BaseModel):
    """A planned probe moved by hand: judged by screening (``planning.adjust``)."""

    model_config = STRICT
    target: Annotated[int, Field(ge=0, le=99)] | Annotated[str, Field(min_length=1, max_length=40)] = Field(
        0, description="the target's number in the plan, or its name")
    tip_offset_mm: list[Annotated[float, Field(ge=-MAX_OFFSET_MM, le=MAX_OFFSET_MM)]] = Field(
        [0.0, 0.0, 0.0], min_length=3, max_length=3, description="tip displacement [x, y, z], mm")
    tilt_deg: float = Field(0.0, ge=0, le=MAX_TILT_DEG, description="tilt of the needle about the tip")
    azimuth_deg: float = Field(0.0, ge=-360, le=360,
                               description="direction of the tilt (0: lateral, 90: cranial)")
    freeze_s: float | None = Field(None, gt=0, le=900,
                                   description="seconds per freeze (the plan's; the scene lists those kept)")
    cycles: int | None = Field(None, ge=1, le=4, description="freeze cycles (default the plan's)")


class RecordIn(BaseModel):
    model_config = STRICT
    run_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    pseudonym: str = Field(max_length=64)
    treated_on: str = Field(max_length=10, description="YYYY-MM-DD")
    levels: str = Field(max_length=64, description="e.g. L4,L5")


class FollowUpIn(BaseModel):
    model_config = STRICT
    seen_on: str = Field(max_length=10, description="YYYY-MM-DD")
    pain_score: int = Field(ge=0, le=10)
    pain_returned: bool


class Created(BaseModel):
    id: int


class ProcedureOut(BaseModel):
    id: int
    pseudonym: str
    treated_on: str
    levels: str
    protocol: str
    probe: str
    follow_ups: int
    pain_returned_on: str | None


class ErrorOut(BaseModel):
    detail: Any


ERRORS = {400: {"model": ErrorOut, "description": "a body that cannot be parsed"},
          413: {"model": ErrorOut, "description": "upload too large"},
          401: {"model": ErrorOut, "description": "token missing or wrong"},
          503: {"model": ErrorOut, "description": "the server's registry cannot be opened, or is busy "
                                                  "(Retry-After)"}}


def _request_error(error: dict) -> str:
    """A request's validation error (FastAPI's dict) as the command line's line: the field (the
    path in the body, query or URL), the value and what is allowed."""
    where = [str(x) for x in error["loc"][1:]] or [str(error["loc"][0])]
    field = ".".join(where)
    if error["type"] == "json_invalid":  # its loc holds the character where parsing stopped
        why = (error.get("ctx") or {}).get("error", "")
        return str(InputError(str(error["loc"][0]), f"(character {where[-1]})", f"valid JSON ({why})"))
    if error["type"] == "extra_forbidden":
        return str(InputError(field, error.get("input"), "no such key in this request (its keys: /docs)"))
    line = translate_error({**error, "loc": tuple(error["loc"])[1:]}, None, field)
    return str(InputError(field, line.value, line.allowed))


def _unprocessable(err: InputError) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["body", err.field], "msg": str(err), "type": "value_error"}])


def _section(data: dict, name: str) -> dict:
    """``data[name]`` as a table to change (InputError when the file holds something else there)."""
    part = data.setdefault(name, {})
    if not isinstance(part, dict):
        raise InputError(name, part, "a section (a table of keys)")
    return part


def _procedure_data(req: RunRequest) -> tuple[str, dict[str, Any], str]:
    """(kind, data, title) of a run request: its template or uploaded file read once, with the
    chosen probe, gas and protocol; a title says what was chosen instead of the file's."""
    if (req.template is None) == (req.procedure_toml is None):
        raise InputError("template", req.template, "a template or procedure_toml (exactly one)")
    if req.template is not None:
        kind, name, title = TEMPLATES[req.template]
        text = resources.files("cryoplan.data").joinpath(name).read_text(encoding="utf-8")
    else:
        if req.kind is None:
            raise InputError("kind", None, "simulation or plan (what the uploaded file is)")
        kind, text, title = req.kind, req.procedure_toml, "uploaded " + req.kind
    data = service.read_text(text)
    if req.lowest is not None:
        if req.ct is None:
            raise InputError("lowest", req.lowest, "only with ct (the lowest vertebra in an uploaded CT)")
        _section(data, "anatomy")["lowest"] = req.lowest
    if all(x is None for x in (req.probe, req.gas, req.protocol, req.levels, req.sides)):
        return kind, data, req.title or title
    chosen = []
    for key, values in (("levels", req.levels), ("sides", req.sides)):
        if values is None:
            continue
        if kind != "plan":
            raise InputError(key, values, "nothing for a simulation (levels and sides choose a plan's "
                             "targets)")
        anatomy = _section(data, "anatomy")
        anatomy.pop(key[:-1], None)  # a single level (side) gives way to the chosen ones
        anatomy[key] = values
        chosen.append(f"{key} {', '.join(values)}")
    if req.probe is not None:
        if req.probe not in {p.name for p in list_probes()}:
            raise InputError("probe", req.probe, ", ".join(p.name for p in list_probes()))
        _section(data, "probe")["catalog"] = req.probe
        chosen.append(f"probe {req.probe}")
    if req.gas is not None:
        _section(data, "cryogen")["gas"] = req.gas
        chosen.append(f"gas {req.gas}")
    if req.protocol is not None:
        p = req.protocol
        if kind == "plan":
            _section(data, "plan").update(freeze_seconds=[p.freeze_seconds], cycles=[p.cycles],
                                          thaw_seconds=p.thaw_seconds)
        else:
            phases = freeze_thaw(p.cycles, p.freeze_seconds, p.thaw_seconds)
            data["protocol"] = {"phases": [{"kind": q.kind, "seconds": q.seconds} for q in phases]}
        chosen.append(f"{p.cycles} x {p.freeze_seconds:g} s freeze" + (
            f", {p.thaw_seconds:g} s thaw" if p.cycles > 1 and p.thaw_seconds else ""))
    base = req.template or f"uploaded {kind}"
    return kind, data, req.title or f"{base} with {', '.join(chosen)}"


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether announced or streamed
    (``paths``: other limits for some paths, a CT's upload)."""

    def __init__(self, app, limit: int, paths: dict[str, int] | None = None) -> None:
        self.app, self.default, self.paths = app, limit, paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.paths.get(scope.get("path", ""), self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        seen = 0
        started = refused = False

        async def counted():
            # Refuse as soon as the body passes the limit; the app's own answer to the broken
            # body (FastAPI turns the exception into a 400) is then dropped.
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not refused:
                    refused = True
                    if not started:
                        await self._refuse(send, limit)
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            pass

    async def _refuse(self, send, limit: int) -> None:
        body = (b'{"detail":"request body larger than ' + str(limit).encode() + b' bytes"}')
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _one_line(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("one line of text without control characters (no NUL, ESC or newline)")
    return value


#: A run's title: printed in the page, the report and the registry, so one plain line.
Title = Annotated[str, Field(max_length=120), AfterValidator(_one_line)]


#: Seconds a request waits for the registry's lock before answering 503, and the retry it suggests.
REGISTRY_WAIT_S = 5.0
RETRY_AFTER_S = 5
#: Procedures per page of the registry's list, by default and at most.
PAGE, MAX_PAGE = 100, 1000


class AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate echoed from a request
    (``"\\ud800"``, valid JSON, not valid UTF-8) is written as its escape instead of failing."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def create_app(data_dir: FilePath, token: str | None = None, registry_url: str | None = None,
               workers: int = 1, max_queued: int = 8, max_upload_bytes: int = 256_000,
               plan_workers: int = 0, max_ct_bytes: int = MAX_CT_BYTES) -> FastAPI:
    """The web planner over ``data_dir`` (runs in ``data_dir/runs``, uploaded CTs in
    ``data_dir/cts``; the registry defaults to ``data_dir/registry.db``): ``workers`` runs at
    once, a plan on ``plan_workers`` processes (0: one per core), a CT's upload of at most
    ``max_ct_bytes``."""
    data_dir = FilePath(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    runs = Runs(data_dir, workers=workers, max_queued=max_queued, plan_workers=plan_workers)
    scans = Scans(data_dir)
    registry_url = registry_url or f"sqlite:///{(data_dir / 'registry.db').resolve()}"

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        runs.close()  # the server stops: no run's process outlives it

    app = FastAPI(title="cryoplan", version=__version__, responses=ERRORS, lifespan=lifespan,
                  default_response_class=AsciiJSON,
                  description="Simulate and plan cryoneurolysis; record outcomes.")
    app.add_middleware(BodyLimit, limit=max_upload_bytes, paths={"/api/cts": max_ct_bytes})

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's shape, each message in the command line's one-line form (field, value, what is
        # allowed), and a NaN in the body (JSON allows it) echoed as null, not a 500
        detail = [{**e, "msg": _request_error(e)} for e in exc.errors()]
        return AsciiJSON({"detail": jsonable_encoder(service.finite(detail)[0])}, status_code=422)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        return AsciiJSON({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            allowed = {m for r in app.router.routes if isinstance(r, APIRoute)
                       and r.path_regex.match(request.url.path) for m in r.methods}
            headers["Allow"] = ", ".join(sorted(allowed))
        return AsciiJSON({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    registry_cache: list = []
    registry_lock = threading.Lock()  # sync endpoints run on a thread pool: open one engine only

    def registry():
        """The registry, opened once; its modules (SQLAlchemy, lifelines, pandas, matplotlib) are
        imported here under the lock too: two threads importing pandas at once can see it half
        initialised ("partially initialized module 'pandas'")."""
        with registry_lock:
            if not registry_cache:
                import cryoplan.store.survival  # noqa: F401 - imports lifelines, pandas
                from cryoplan.store.registry import Registry  # SQLAlchemy only when the registry is used

                try:
                    registry_cache.append(Registry(registry_url, busy_timeout_s=REGISTRY_WAIT_S))
                except InputError as err:  # the server's setting, not the request: its message is masked
                    raise HTTPException(503, detail=str(err)) from None
            return registry_cache[0]

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is not None:
            header = request.headers.get("authorization", "").removeprefix("Bearer ")
            given = request.query_params.get("token") or header
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "token missing or wrong"}, status_code=401)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return resources.files("cryoplan.web").joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/plotly.js", include_in_schema=False)
    def plotly_js() -> Response:
        """plotly.js from the installed plotly package: the page needs no network."""
        return Response(_plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/api/options", response_model=Options)
    def options() -> Options:
        """Templates, catalog probes and gases the page offers."""
        templates = [Template(name=k, kind=kind, description=desc,
                              toml=resources.files("cryoplan.data").joinpath(f).read_text(encoding="utf-8"))
                     for k, (kind, f, desc) in TEMPLATES.items()]
        probes = [{"name": p.name, "gas": p.gas, "description": p.description} for p in list_probes()]
        levels = [lv for sec in ("lumbar", "sacral") for lv in anatomy_data()[sec]["levels"]]
        return Options(templates=templates, probes=probes, gases=list(GASES), levels=levels)

    @app.post("/api/runs", status_code=202, response_model=RunOut,
              responses={422: {"model": ErrorOut}, 429: {"model": ErrorOut}})
    def submit(req: RunRequest) -> RunOut:
        """Queue a simulation or a plan; poll ``/api/runs/{id}`` for its progress."""
        try:
            kind, data, title = _procedure_data(req)
            ct = None
            if req.ct is not None:
                try:
                    ct = scans.path(req.ct)
                except KeyError:
                    raise InputError("ct", req.ct, "the id of an uploaded CT (GET /api/cts)") from None
                title += " on an uploaded CT"
            st = runs.submit(kind, data, title, ct)
        except InputError as err:
            raise _unprocessable(err) from None
        except QueueFull as err:
            raise HTTPException(429, detail=str(err)) from None
        return RunOut(**st.__dict__)

    @app.post("/api/cts", status_code=201, response_model=ScanOut,
              responses={413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload_ct(request: Request) -> ScanOut:
        """Upload a CT for planning: the body is the file itself, a zip of a DICOM series or a NIfTI
        file (.nii, .nii.gz). It is kept under an id the server makes up, to be named in a plan
        (``ct`` of ``POST /api/runs``); it is read only by the run that plans on it."""
        try:
            scan = await scans.save(request.stream())
        except InputError as err:
            raise _unprocessable(err) from None
        except TooMany as err:
            raise HTTPException(429, detail=str(err)) from None
        return ScanOut(id=scan.id, format=scan.format, bytes=scan.bytes)

    @app.get("/api/cts", response_model=list[str])
    def list_cts() -> list[str]:
        """The ids of the CTs kept."""
        return scans.ids()

    @app.delete("/api/cts/{scan_id}", status_code=204, responses={404: {"model": ErrorOut}})
    def delete_ct(scan_id: ScanId) -> Response:
        """Delete an uploaded CT (the runs made on it keep their results)."""
        try:
            scans.delete(scan_id)
        except KeyError:
            raise HTTPException(404, detail=f"no CT {scan_id}") from None
        return Response(status_code=204)

    @app.get("/api/runs", response_model=list[RunOut])
    def list_runs() -> list[RunOut]:
        return [RunOut(**s.__dict__) for s in runs.all()]

    def _status(run_id: str) -> RunStatus:
        try:
            return runs.status(run_id)
        except KeyError:
            raise HTTPException(404, detail=f"no run {run_id}") from None

    @app.get("/api/runs/{run_id}", response_model=RunOut, responses={404: {"model": ErrorOut}})
    def run_status(run_id: RunId) -> RunOut:
        return RunOut(**_status(run_id).__dict__)

    @app.delete("/api/runs/{run_id}", response_model=RunOut,
                responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
    def cancel(run_id: RunId) -> RunOut:
        """Cancel a queued or running run (its processes are ended); 409 when it has finished."""
        try:
            return RunOut(**runs.cancel(run_id).__dict__)
        except KeyError:
            raise HTTPException(404, detail=f"no run {run_id}") from None
        except NotRunning as err:
            raise HTTPException(409, detail=str(err)) from None

    def _file(run_id: str, name: str) -> FilePath:
        st = _status(run_id)
        if st.state != "done":
            raise HTTPException(404, detail=f"run {run_id} is {st.state}: no {name} yet")
        return runs.folder(run_id) / name

    @app.get("/api/runs/{run_id}/result", responses={404: {"model": ErrorOut},
                                                     200: {"content": {"application/json": {}}}})
    def run_result(run_id: RunId) -> Response:
        """The run's result JSON (as ``cryoplan simulate/plan --json`` writes it)."""
        return Response(_file(run_id, "result.json").read_bytes(), media_type="application/json")

    @app.get("/api/runs/{run_id}/report", responses={404: {"model": ErrorOut},
                                                     200: {"content": {"text/html": {}}}})
    def run_report(run_id: RunId) -> Response:
        """The run's self-contained HTML report."""
        return HTMLResponse(_file(run_id, "report.html").read_text(encoding="utf-8"))

    @app.get("/api/runs/{run_id}/input", responses={404: {"model": ErrorOut},
                                                    200: {"content": {"text/plain": {}}}})
    def run_input(run_id: RunId) -> Response:
        """The procedure or plan file the run used (TOML)."""
        _status(run_id)
        return Response((runs.folder(run_id) / "input.toml").read_text(encoding="utf-8"),
                        media_type="text/plain")

    sessions: dict[str, Any] = {}  # run id -> planning.adjust.Session, the last few read
    adjust_lock = threading.Lock()  # the moved-field kernel runs numba threads: one call at a time

    def _session(run_id: str):
        path = _file(run_id, "adjust.npz")
        if _status(run_id).kind != "plan":
            raise HTTPException(409, detail=f"run {run_id} is a simulation: only a plan's probes move")
        if not path.exists():
            raise HTTPException(409, detail=f"run {run_id} has no 3D state (planned by an older cryoplan): "
                                            "plan it again")
        with adjust_lock:
            if run_id not in sessions:
                try:
                    sessions[run_id] = adjust.load(path)
                except Exception as err:  # noqa: BLE001 - another version's or a damaged file: one line
                    raise HTTPException(409, detail=f"run {run_id}'s 3D state cannot be read "
                                                    f"({type(err).__name__}: {err}): plan it again") from None
                while len(sessions) > 4:
                    sessions.pop(next(iter(sessions)))
            return sessions[run_id]

    @app.get("/api/runs/{run_id}/scene", responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                                                    200: {"content": {"application/json": {}}}})
    def scene(run_id: RunId) -> Response:
        """A finished plan's targets for the 3D view: labels, nerves, needles, what may be moved."""
        return Response(json.dumps(adjust.scene_json(_session(run_id))), media_type="application/json")

    @app.post("/api/runs/{run_id}/adjust", responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                                                      422: {"model": ErrorOut},
                                                      200: {"content": {"application/json": {}}}})
    def adjust_probe(run_id: RunId, body: AdjustIn) -> Response:
        """A planned probe moved by hand: its block probability and margins estimated by
        screening (the planned run's ice ball moved rigidly, the planner's Monte Carlo over
        placement errors; not a new 3D run), and the moved ice ball."""
        session = _session(run_id)
        start = time.perf_counter()
        try:
            name = session.name(body.target)
            state = session.target(name)
            with adjust_lock:
                est = adjust.estimate(state, np.array(body.tip_offset_mm) * 1e-3, body.tilt_deg,
                                      body.azimuth_deg, body.freeze_s, body.cycles)
        except InputError as err:
            raise _unprocessable(err) from None
        out = adjust.estimate_json(state, est, name)
        out["server_ms"] = round((time.perf_counter() - start) * 1e3, 1)
        return Response(json.dumps(out), media_type="application/json")

    @app.get("/api/registry/procedures", response_model=list[ProcedureOut])
    def procedures(response: Response, offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                   limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE) -> list[ProcedureOut]:
        """Recorded procedures by id, a page at a time (``offset``, ``limit``); the header
        X-Total-Count says how many there are."""
        reg = registry()
        response.headers["X-Total-Count"] = str(reg.counts()[0])
        return [ProcedureOut(id=p.id, pseudonym=p.pseudonym, treated_on=p.treated_on.isoformat(),
                             levels=p.levels, protocol=p.protocol, probe=p.probe,
                             follow_ups=len(p.follow_ups),
                             pain_returned_on=next((f.seen_on.isoformat() for f in p.follow_ups
                                                    if f.pain_returned), None))
                for p in reg.procedures(offset, limit)]

    @app.post("/api/registry/procedures", status_code=201, response_model=Created,
              responses={422: {"model": ErrorOut}, 404: {"model": ErrorOut}})
    def record(body: RecordIn) -> Created:
        """Record a finished run as a procedure (patient pseudonym only)."""
        data = json.loads(_file(body.run_id, "result.json").read_text(encoding="utf-8"))
        try:
            entry = from_result(read_result(data), body.pseudonym, body.treated_on, body.levels)
            return Created(id=registry().add_procedure(entry))
        except InputError as err:
            raise _unprocessable(err) from None

    @app.post("/api/registry/procedures/{procedure_id}/follow-ups", status_code=201, response_model=Created,
              responses={422: {"model": ErrorOut}})
    def follow_up(procedure_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: FollowUpIn) -> Created:
        try:
            return Created(id=registry().add_follow_up(procedure_id, body.seen_on, body.pain_score,
                                                       body.pain_returned))
        except InputError as err:
            raise _unprocessable(err) from None

    @app.get("/api/registry/km", responses={200: {"content": {"application/json": {}}}})
    def km() -> Response:
        """Kaplan-Meier curves of relief duration by protocol (JSON)."""
        reg = registry()  # first: it imports the analysis modules under its lock
        from cryoplan.store.survival import curves_json, kaplan_meier  # lifelines: imported by registry()

        return Response(json.dumps({"curves": curves_json(kaplan_meier(reg.durations()))}),
                        media_type="application/json")

    @app.get("/api/registry/km.png", responses={200: {"content": {"image/png": {}}}})
    def km_png() -> Response:
        reg = registry()
        from cryoplan.store.survival import kaplan_meier  # lifelines, matplotlib: imported by registry()
        from cryoplan.store.survival import km_png as draw  # the same

        with registry_lock:  # matplotlib's pyplot is not thread-safe
            return Response(draw(kaplan_meier(reg.durations())), media_type="image/png")

    app.state.runs = runs
    return app
