"""OIDC login initiation and LTI launch: pylti1p3 with the gaps of lti.md §1.1 closed.

``GET|POST /lti/login``
    The platform's third-party-initiated login. Tandem finds the registration
    (issuer + client id), checks ``target_link_uri`` is one of its own URLs, issues an
    OIDC ``state`` that carries its ``nonce``, issuer, client id and expiry (5 minutes),
    authenticated with an HMAC keyed from ``TANDEM_SECRET_KEY`` — so the login writes
    nothing and any host can check it — sets the state cookie (named by the state's id)
    and redirects the browser to the platform's authorization endpoint with
    ``redirect_uri`` = ``{TANDEM_BASE_URL}/lti/launch`` — never the platform-supplied
    ``target_link_uri``. Inside an iframe (``Sec-Fetch-Dest: iframe``) it first checks the
    browser keeps cookies there and, if not, offers to continue in a new window.

``POST /lti/launch``
    Validates the id_token — in this order, and nothing is written unless all pass:

    1. **state**: the form's ``state`` carries this Tandem's HMAC, has not expired
       (5 minutes) and its id equals the state cookie; it is single use through its nonce
       (step 6);
    2. JWT format; **registration** by ``iss`` + ``aud`` (client id);
    3. **signature**: RS256/384/512 only (``none`` and HMAC are refused), the platform key
       by ``kid`` from its JWKS (cached 10 minutes in the shared store and in each
       process, public keys only; refetched once
       when the ``kid`` is unknown — key rotation), ``exp``/``iat`` with a leeway of
       ``TANDEM_LAUNCH_LEEWAY`` seconds (≤ 60), ``aud`` contains the client id, ``azp`` (when
       present, or when there are several audiences) equals it;
    4. **deployment**: approved. A deployment seen for the first time is recorded as
       pending (the one thing a refused launch writes, so an admin can approve it) and the
       user sees "waiting for approval";
    5. **message**: LTI 1.3.0, a resource-link or deep-linking request, ``sub`` and
       ``roles`` present, ``target_link_uri`` on Tandem's base URL;
    6. **nonce**: the one issued with this state, and never used before (kept 24 h).

    Then the user is linked to a person (:mod:`plugin.services.lti_launches`), a browser
    session starts (:mod:`lti.web_session`) and the browser is sent (303) to the
    activity's page — or, for a deep-linking request, shown the activity picker.

``POST /lti/deep-link``
    The picker's form: answers the platform with a signed ``LtiDeepLinkingResponse``.

Every refusal is a 4xx page saying what was wrong; pylti1p3's exceptions never become 500s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from markupsafe import escape
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.contrib.flask.cookie import FlaskCookieService
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.lineitem import LineItem
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, Unauthorized

from lti import activities, web_session
from lti.db import get_session
from lti.i18n import _, current_language, error_text
from lti.platform_http import platform_session
from lti.secrets import get_secret_box
from lti.tool_conf import SqlAlchemyToolConf
from plugin.access import ActorRole
from plugin.errors import NotFound, PluginError
from plugin.models import LtiDeploymentStatus, LtiRegistration, Program, ProgramStatus
from plugin.services import audit, programs
from plugin.services import lti_registrations as regs
from plugin.services.lti_cache import LtiCache
from plugin.services.lti_launches import CLAIM, accept_launch, role_for

__all__ = ["LaunchRefused", "bp", "launch_url"]

log = logging.getLogger(__name__)

bp = Blueprint("launch", __name__, url_prefix="/lti")

STATE_SECONDS = 300
NONCE_SECONDS = 86400
JWKS_SECONDS = 600
JWKS_REFETCH_SECONDS = 10
#: Deep-linking launches keep their data this long (the picker must be submitted in time).
LAUNCH_DATA_SECONDS = 3600
ALGORITHMS = ("RS256", "RS384", "RS512")
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
_MAX_TOKEN = 64 * 1024

_KEYS: dict[str, Any] = {}
_KEYS_LOCK = threading.Lock()


class LaunchRefused(HTTPException):
    """A login or launch Tandem refuses; rendered as a 4xx page by :mod:`lti.errors`.

    Raise it with texts already translated (``_("…", name=value)``): the message and the
    title are plain strings in the request's language, and the error page escapes them.
    """

    def __init__(self, description: str, *, code: int = 400, name: str | None = None) -> None:
        """Refuse with an HTTP status and a message for the user (no secrets in it).

        Args:
            description: What was wrong and what to do, translated.
            code: The HTTP status (4xx, or 502 for a platform failure).
            name: The page's title, translated; "Launch refused" by default.
        """
        super().__init__(str(description))
        self.code = code
        self._title = str(name) if name is not None else _("Launch refused")

    @property
    def name(self) -> str:  # type: ignore[override]
        """The page's title."""
        return self._title


_LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "lti_deployment_id",
    "client_id",
)


class CookiesBlocked(HTTPException):
    """The browser dropped the state cookie (an iframe without third-party cookies).

    Answered with a page that offers to start the same login again in a new window, where
    the cookie is first-party. Nothing is written; the old state simply expires.
    """

    code = 401

    def __init__(self, login: Mapping[str, str]) -> None:
        """Remember the login parameters for the new-window link."""
        super().__init__(
            _(
                "Your browser did not keep the cookie Tandem sets while opening inside the "
                "course page (third-party cookies are blocked). Open Tandem in a new window."
            )
        )
        self.login = dict(login)

    @property
    def name(self) -> str:
        """The page's title (translated when it is shown)."""
        return _("Open Tandem in a new window")

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:  # type: ignore[override]
        """The new-window page."""
        query = urlencode({**self.login, "lti1p3_new_window": "1"})
        html = render_template(
            "lti/new_window.html",
            login_url=url_for("launch.login") + "?" + query,
            message=self.description,
        )
        return Response(html, status=self.code, mimetype="text/html")


DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def _is_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.netloc)


def launch_url() -> str:
    """``{TANDEM_BASE_URL}/lti/launch``: the only redirect URI Tandem registers."""
    return str(current_app.config["BASE_URL"]).rstrip("/") + "/lti/launch"


def _on_base_url(url: Any) -> bool:
    """Whether ``url`` is on Tandem's base URL (same scheme, host, port, under its path)."""
    if not isinstance(url, str) or len(url) > 2000:
        return False
    base = urlsplit(str(current_app.config["BASE_URL"]).rstrip("/"))
    try:
        got = urlsplit(url)
        got.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return False
    if (got.scheme, got.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return False
    prefix = base.path.rstrip("/") + "/"
    return (got.path or "/").startswith(prefix) or got.path == base.path


# --------------------------------------------------------------------------- pylti1p3 glue


class DbLaunchDataStorage(LaunchDataStorage[Any]):
    """pylti1p3's launch data storage on the shared store (the database)."""

    def __init__(self, cache: LtiCache) -> None:
        """Store through ``cache`` (bound to the request's session)."""
        super().__init__()
        self.cache = cache

    def get_session_cookie_name(self) -> str | None:
        """No ``lti1p3-session-id`` cookie: state is bound by its own cookie (lti.md §1.2)."""
        return None

    def can_set_keys_expiration(self) -> bool:
        """Entries expire."""
        return True

    def get_value(self, key: str) -> Any:
        """The value of ``key``, or None."""
        return self.cache.get(self._prepare_key(key))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        """Store ``value`` for ``exp`` seconds (a day by default)."""
        self.cache.set(self._prepare_key(key), value, exp or NONCE_SECONDS)

    def check_value(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        return self.cache.get(self._prepare_key(key)) is not None


class TandemRequest(FlaskRequest):
    """pylti1p3's Flask request that knows HTTPS behind a proxy or from the base URL."""

    def is_secure(self) -> bool:
        """HTTPS as the browser sees it."""
        return web_session.is_secure_request()


class TandemCookieService(FlaskCookieService):
    """State cookies that survive an LMS iframe: ``Secure; SameSite=None; Partitioned``."""

    def update_response(self, response: Response) -> None:
        """Write the cookies pylti1p3 asked for."""
        for key, data in self._cookie_data_to_set.items():
            web_session.set_cookie(response, key, data["value"], max_age=data["exp"])


_STATE_VERSION = "s1"
#: Longest state Tandem issues (with the login's parameters inside) or accepts.
_MAX_STATE = 2400
#: Login parameters larger than this (compressed) stay out of the state: the new-window
#: fallback then asks the user to start again from the course instead.
_MAX_LOGIN_IN_STATE = 1200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _state_mac_key() -> bytes:
    """The HMAC key of OIDC states, derived from ``TANDEM_SECRET_KEY`` (one per app)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key: bytes | None = app.extensions.get("tandem.oidc_state_key")
    if key is None:
        secret = str(app.config["SECRET_KEY"]).encode("utf-8")
        key = hmac.new(secret, b"tandem-oidc-state-v1", hashlib.sha256).digest()
        app.extensions["tandem.oidc_state_key"] = key
    return key


def _issue_state(content: dict[str, Any], login: Mapping[str, str]) -> tuple[str, str]:
    """A signed, self-contained OIDC state and its short id (the name of its cookie).

    The state carries the nonce, issuer, client id and expiry (and, when small, the
    login's own parameters for the new-window fallback), authenticated with an HMAC: the
    login writes nothing to the database, and any host can check the state at launch.
    Single use follows from the nonce, which the launch accepts once.
    """
    sid = secrets.token_urlsafe(16)
    body = dict(content)
    packed_login = zlib.compress(json.dumps(login, separators=(",", ":")).encode(), 6)
    if len(packed_login) <= _MAX_LOGIN_IN_STATE:
        body["l"] = _b64(packed_login)
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signed = f"{_STATE_VERSION}.{sid}.{payload}"
    mac = _b64(hmac.new(_state_mac_key(), signed.encode("ascii"), hashlib.sha256).digest())
    return f"{signed}.{mac}", sid


def _read_state(state: str) -> tuple[str, dict[str, Any]] | None:
    """The id and content of a state Tandem issued (expired or not), or None if forged."""
    parts = state.split(".")
    if len(parts) != 4 or parts[0] != _STATE_VERSION:
        return None
    signed = ".".join(parts[:3])
    expected = hmac.new(_state_mac_key(), signed.encode("ascii"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(parts[3]), expected):
            return None
        content = json.loads(_unb64(parts[2]))
        if not isinstance(content, dict):
            return None
        packed = content.pop("l", None)
        if isinstance(packed, str):
            login = json.loads(zlib.decompress(_unb64(packed)))
            content["login"] = login if isinstance(login, dict) else None
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None
    return parts[1], content


class TandemOIDCLogin(FlaskOIDCLogin):
    """OIDC login that stores state + nonce together in the shared store."""

    def _prepare_redirect_url(self, launch_url: str) -> str:
        self._registration = self.validate_oidc_login()
        nonce = secrets.token_urlsafe(24)
        client_id = self._registration.get_client_id()
        auth_login_url = self._registration.get_auth_login_url()
        if not client_id or not auth_login_url:  # pragma: no cover - columns are NOT NULL
            raise OIDCException("registration is incomplete")
        # The login's own parameters come along, so a launch whose state cookie the browser
        # dropped (third-party cookies blocked) can offer to log in again in a new window.
        login = {k: self._get_request_param(k) for k in _LOGIN_PARAMS}
        state, sid = _issue_state(
            {
                "nonce": nonce,
                "iss": self._registration.get_issuer(),
                "client_id": client_id,
                "exp": int(time.time()) + STATE_SECONDS,
            },
            {k: v[:2000] for k, v in login.items() if isinstance(v, str) and v},
        )
        self._cookie_service.set_cookie(sid, sid, STATE_SECONDS)
        params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": client_id,
            "redirect_uri": launch_url,
            "state": state,
            "nonce": nonce,
            "login_hint": self._get_request_param("login_hint"),
        }
        hint = self._get_request_param("lti_message_hint")
        if hint:
            params["lti_message_hint"] = hint
        separator = "&" if "?" in auth_login_url else "?"
        return auth_login_url + separator + urlencode(params)

    def get_cookies_allowed_js_check(self) -> str:
        """pylti1p3's cookie check page, with a title and the page's language.

        pylti1p3 writes ``<html lang="en">`` and an empty ``<title>``; the texts come
        from :func:`login` (translated and escaped there).
        """
        html: str = super().get_cookies_allowed_js_check()
        title = escape(_("Opening Tandem…"))
        html = html.replace('<html lang="en">', f'<html lang="{current_language()}">', 1)
        return html.replace("<title></title>", f"<title>{title}</title>", 1)


_REFETCHED: dict[str, float] = {}
#: Platform key sets by JWKS URL with their expiry (monotonic): public keys, per process,
#: so most launches need no database read for them. The shared store has them too.
_KEY_SETS: dict[str, tuple[dict[str, Any], float]] = {}


def _remember_key_set(url: str, keys: dict[str, Any]) -> None:
    with _KEYS_LOCK:
        if len(_KEY_SETS) > 256:
            _KEY_SETS.clear()
        _KEY_SETS[url] = (keys, time.monotonic() + JWKS_SECONDS)


def _may_refetch(url: str) -> bool:
    """Whether this process may refetch ``url``'s key set now (and note that it does)."""
    now = time.monotonic()
    with _KEYS_LOCK:
        last = _REFETCHED.get(url)
        if last is not None and now - last < JWKS_REFETCH_SECONDS:
            return False
        if len(_REFETCHED) > 1024:
            _REFETCHED.clear()
        _REFETCHED[url] = now
        return True


def _public_key(jwk: Mapping[str, Any]) -> Any:
    """A verification key for a JWK (parsed once per process; public keys only)."""
    text = json.dumps(dict(jwk), sort_keys=True)
    with _KEYS_LOCK:
        key = _KEYS.get(text)
    if key is None:
        try:
            key = jwt.PyJWK(dict(jwk)).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise LaunchRefused(_("The platform published a key Tandem cannot read.")) from exc
        with _KEYS_LOCK:
            if len(_KEYS) > 512:
                _KEYS.clear()
            _KEYS[text] = key
    return key


class TandemMessageLaunch(FlaskMessageLaunch):
    """pylti1p3's launch with Tandem's extra checks (see the module docstring)."""

    registration_row: LtiRegistration | None = None
    deployment_id: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Build the launch and remember the shared store."""
        super().__init__(*args, **kwargs)
        self.cache = LtiCache(get_session())
        self.leeway = float(current_app.config["LAUNCH_LEEWAY"])
        self._state_params: dict[str, Any] = {}

    def validate(self) -> TandemMessageLaunch:
        """Validate everything (nonce last, after the signature), then save for deep links."""
        if self._restored:
            raise LtiException("Can't validate restored launch")
        self._validated = True
        try:
            self.validate_state()
            self.validate_jwt_format()
            self.validate_registration()
            self.validate_jwt_signature()
            self.validate_deployment()
            self.validate_message()
            self.validate_nonce()
            self.save_launch_data()
        except Exception:
            self._validated = False
            raise
        return self

    # -- state
    def validate_state(self) -> TandemMessageLaunch:
        """The state equals the state cookie and was issued here (single use)."""
        state = self._get_request_param("state")
        if not state or len(state) > _MAX_STATE:
            raise LaunchRefused(_("The launch has no 'state'. Open Tandem again from the course."))
        read = _read_state(state)
        if read is None:
            raise LaunchRefused(
                _(
                    "This launch did not start at this Tandem (its state is not one Tandem "
                    "issued). Open Tandem again from the course."
                ),
                code=401,
                name=_("Launch not recognised"),
            )
        sid, params = read
        if not (isinstance(params.get("exp"), int) and params["exp"] > time.time()):
            raise LaunchRefused(
                _(
                    "This launch has expired or was already used. Open Tandem again from the "
                    "course."
                ),
                code=401,
                name=_("Launch expired"),
            )
        cookie = self._cookie_service.get_cookie(sid)
        if cookie is None and isinstance(params.get("login"), dict):
            raise CookiesBlocked(params["login"])
        if cookie != sid:
            raise LaunchRefused(
                _(
                    "This launch did not start in this browser (its state cookie is missing or "
                    "different). If your browser blocks cookies in embedded pages, open Tandem in "
                    "a new window from the course."
                ),
                code=401,
                name=_("Launch not recognised"),
            )
        self._state_params = params
        return self

    def validate_jwt_format(self) -> TandemMessageLaunch:
        """Three parts, decodable header and body, a size limit."""
        token = self._get_request_param("id_token")
        if not token:
            raise LaunchRefused(_("The launch has no id_token."))
        if len(token) > _MAX_TOKEN:
            raise LaunchRefused(_("The id_token is too large."))
        try:
            super().validate_jwt_format()
        except LtiException as exc:
            raise LaunchRefused(_("The id_token is not a readable JWT.")) from exc
        if not isinstance(self._jwt.get("body"), dict) or not isinstance(
            self._jwt.get("header"), dict
        ):
            raise LaunchRefused(_("The id_token is not a readable JWT."))
        return self

    def validate_registration(self) -> TandemMessageLaunch:
        """The registration of ``iss`` + ``aud``; remembers the row."""
        body = self._jwt["body"]
        iss, aud = body.get("iss"), body.get("aud")
        if not isinstance(iss, str) or not iss:
            raise LaunchRefused(_("The id_token has no issuer ('iss')."))
        if not (isinstance(aud, str) and aud) and not (
            isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud)
        ):
            raise LaunchRefused(_("The id_token has no audience ('aud')."))
        tool_conf: SqlAlchemyToolConf = self._tool_config
        deployment_id = body.get(CLAIM["deployment_id"])
        tool_conf.prefetch(
            iss,
            self.get_client_id(),
            deployment_id if isinstance(deployment_id, str) else None,
        )
        try:
            super().validate_registration()
        except LtiException as exc:
            raise LaunchRefused(
                _(
                    "This platform (issuer and client id of the launch) is not registered with "
                    "Tandem, or its registration was deactivated."
                ),
                code=403,
                name=_("Unknown platform"),
            ) from exc
        self.registration_row = tool_conf.registration_row(iss, self.get_client_id())
        if not self._restored and (
            self._state_params.get("iss") != self._registration.get_issuer()  # type: ignore[union-attr]
            or self._state_params.get("client_id") != self.get_client_id()
        ):
            raise LaunchRefused(
                _("The launch comes from another platform than the login it answers."), code=401
            )
        return self

    # -- signature
    def _key_set(self, url: str, *, refresh: bool) -> tuple[dict[str, Any], bool]:
        """The platform's JWKS and whether it came from a cache (this process's or shared)."""
        cache_key = "jwks:" + hashlib.sha256(url.encode()).hexdigest()
        if not refresh:
            now = time.monotonic()
            with _KEYS_LOCK:
                memo = _KEY_SETS.get(url)
            if memo is not None and memo[1] > now:
                return memo[0], True
            cached = self.cache.get(cache_key)
            if isinstance(cached, dict):
                _remember_key_set(url, cached)
                return cached, True
        try:
            resp = self._requests_session.get(url)
        except Exception as exc:  # requests' errors: network, timeout, TLS
            raise LaunchRefused(
                _("Tandem could not fetch the platform's public keys."),
                code=502,
                name=_("Platform unreachable"),
            ) from exc
        try:
            keys = resp.json() if resp.status_code == 200 else None
        except ValueError:
            keys = None
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
            raise LaunchRefused(
                _(
                    "The platform's public keys could not be read (HTTP %(status)s).",
                    status=resp.status_code,
                ),
                code=502,
                name=_("Platform error"),
            )
        self.cache.set(cache_key, keys, JWKS_SECONDS)
        _remember_key_set(url, keys)
        return keys, False

    def _find_key(self, keys: Mapping[str, Any], kid: str, alg: str) -> Mapping[str, Any] | None:
        for key in keys.get("keys", []):
            if isinstance(key, dict) and key.get("kid") == kid:
                if key.get("alg", alg) != alg or key.get("kty") != "RSA":
                    return None
                if key.get("use", "sig") != "sig":
                    return None
                return key
        return None

    def get_public_key(self) -> tuple[Any, str]:  # type: ignore[override]
        """The platform key named by the header's ``kid``, refetching the JWKS once."""
        header = self._jwt.get("header", {})
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise LaunchRefused(
                _(
                    "The id_token is signed with %(algorithm)s; LTI requires RS256.",
                    algorithm=repr(str(alg)[:20]),
                ),
                code=401,
                name=_("Bad signature"),
            )
        if not isinstance(kid, str) or not kid:
            raise LaunchRefused(_("The id_token header names no key ('kid')."), code=401)
        url = self._registration.get_key_set_url()  # type: ignore[union-attr]
        if not url:  # pragma: no cover - registrations always have a JWKS URL
            raise LaunchRefused(_("The platform's registration has no JWKS URL."))
        keys, cached = self._key_set(url, refresh=False)
        found = self._find_key(keys, kid, alg)
        if found is None and cached and _may_refetch(url):
            # An unknown kid: the platform may have rotated its keys. Refetch once — at
            # most every few seconds per platform and process, so forged kids cannot make
            # Tandem flood the platform (a process-local throttle: a refused launch writes
            # nothing to the database, not even this).
            keys = self._key_set(url, refresh=True)[0]
            found = self._find_key(keys, kid, alg)
        if found is None:
            raise LaunchRefused(
                _("The id_token is signed with a key the platform does not publish."),
                code=401,
                name=_("Bad signature"),
            )
        return _public_key(found), alg

    def validate_jwt_signature(self) -> TandemMessageLaunch:
        """Signature, ``exp``/``iat`` with leeway, ``iss``, ``aud`` and ``azp``."""
        key, alg = self.get_public_key()
        try:
            body = jwt.decode(
                self._get_id_token(),
                key,
                algorithms=[alg],
                leeway=self.leeway,
                options={"require": ["exp", "iat"], "verify_aud": False, "verify_iss": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise LaunchRefused(
                _("The launch has expired. Open Tandem again from the course."),
                code=401,
                name=_("Launch expired"),
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise LaunchRefused(
                _("The launch is dated in the future; the platform's clock may be wrong."),
                code=401,
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise LaunchRefused(
                _("The id_token's signature is not valid."), code=401, name=_("Bad signature")
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise LaunchRefused(
                _("The id_token is not valid: %(reason)s.", reason=str(exc)), code=401
            ) from exc
        iat = body.get("iat")
        if not isinstance(iat, int | float) or iat > time.time() + self.leeway:
            raise LaunchRefused(
                _("The launch is dated in the future; the platform's clock may be wrong."), code=401
            )
        client_id = self._registration.get_client_id()  # type: ignore[union-attr]
        aud = body.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if client_id not in audiences:
            raise LaunchRefused(_("The id_token is meant for another tool ('aud')."), code=401)
        azp = body.get("azp")
        if (azp is not None or len(audiences) > 1) and azp != client_id:
            raise LaunchRefused(_("The id_token is meant for another tool ('azp')."), code=401)
        self._jwt["body"] = body
        return self

    # -- deployment
    def validate_deployment(self) -> TandemMessageLaunch:
        """An approved deployment; a new one is recorded as pending and refused."""
        deployment_id = self._jwt["body"].get(CLAIM["deployment_id"])
        if not isinstance(deployment_id, str) or not deployment_id or len(deployment_id) > 255:
            raise LaunchRefused(_("The launch names no deployment ('deployment_id')."))
        self.deployment_id = deployment_id
        tool_conf: SqlAlchemyToolConf = self._tool_config
        found = tool_conf.find_deployment_by_params(
            self._registration.get_issuer(),  # type: ignore[union-attr]
            deployment_id,
            self.get_client_id(),
        )
        if found is not None:
            return self
        status = _note_deployment(self.registration_row, deployment_id)  # type: ignore[arg-type]
        if status is LtiDeploymentStatus.APPROVED:
            raise DeploymentJustApproved  # the registration auto-approves: validate again
        if status is LtiDeploymentStatus.REVOKED:
            raise LaunchRefused(
                _("This Tandem placement was switched off by your organization's admin."),
                code=403,
                name=_("Deployment revoked"),
            )
        raise LaunchRefused(
            _(
                "This Tandem placement is new and waits for approval by your organization's "
                "Tandem admin (tandem lti approve-deployment). Try again once it is approved."
            ),
            code=403,
            name=_("Waiting for approval"),
        )

    # -- message
    def validate_message(self) -> TandemMessageLaunch:
        """Version, message type, user, roles, resource link and target link URI."""
        body = self._jwt["body"]
        message_type = body.get("https://purl.imsglobal.org/spec/lti/claim/message_type")
        if message_type not in MESSAGE_TYPES:
            raise LaunchRefused(
                _(
                    "Tandem does not handle %(message_type)s launches; it opens resource "
                    "links and content selection (deep linking).",
                    message_type=repr(str(message_type)[:60]),
                )
            )
        if body.get("https://purl.imsglobal.org/spec/lti/claim/version") != "1.3.0":
            raise LaunchRefused(_("Tandem speaks LTI 1.3.0; the launch names another version."))
        sub = body.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            raise LaunchRefused(
                _(
                    "The launch does not say who you are ('sub'). Log in to the course and open "
                    "Tandem again."
                ),
                code=401,
            )
        roles = body.get(CLAIM["roles"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise LaunchRefused(_("The launch has no list of roles."))
        target = body.get("https://purl.imsglobal.org/spec/lti/claim/target_link_uri")
        if not _on_base_url(target):
            raise LaunchRefused(
                _("The launch points to an address that is not this Tandem ('target_link_uri')."),
                code=400,
            )
        for claim in ("context", "custom", "launch_presentation", "lis", "ags", "nrps"):
            value = body.get(CLAIM[claim])
            if value is not None and not isinstance(value, dict):
                raise LaunchRefused(
                    _("The launch's '%(claim)s' claim is not an object.", claim=CLAIM[claim])
                )
        if message_type == "LtiResourceLinkRequest":
            link = body.get(CLAIM["resource_link"])
            if not isinstance(link, dict) or not isinstance(link.get("id"), str) or not link["id"]:
                raise LaunchRefused(_("The launch names no resource link ('resource_link.id')."))
        else:
            settings = body.get(DL_SETTINGS)
            if not isinstance(settings, dict) or not _is_url(settings.get("deep_link_return_url")):
                raise LaunchRefused(
                    _("The content-selection launch has no return URL ('deep_linking_settings').")
                )
        try:
            super().validate_message()
        except LtiException as exc:
            raise LaunchRefused(
                _("The launch is incomplete: %(reason)s.", reason=str(exc))
            ) from exc
        except (AttributeError, TypeError, ValueError) as exc:
            raise LaunchRefused(_("The launch's claims are malformed.")) from exc
        return self

    # -- nonce
    def validate_nonce(self) -> TandemMessageLaunch:
        """The nonce issued with this state, accepted once."""
        nonce = self._jwt["body"].get("nonce")
        if not isinstance(nonce, str) or not nonce or nonce != self._state_params.get("nonce"):
            raise LaunchRefused(
                _("The launch does not answer Tandem's login (nonce mismatch)."), code=401
            )
        used = "nonce-used:" + hashlib.sha256(nonce.encode()).hexdigest()
        if not self.cache.add_if_absent(used, True, NONCE_SECONDS):
            raise LaunchRefused(
                _(
                    "This launch has expired or was already used (replayed nonce). Open Tandem "
                    "again from the course."
                ),
                code=401,
                name=_("Launch expired"),
            )
        return self

    def save_launch_data(self) -> TandemMessageLaunch:
        """Keep deep-linking launches for the picker (resource links need nothing later)."""
        if self.is_deep_link_launch():
            self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self


class DeploymentJustApproved(Exception):
    """A new deployment of an auto-approving registration was recorded: validate again."""


def _note_deployment(registration: LtiRegistration, deployment_id: str) -> LtiDeploymentStatus:
    """Record a deployment seen in a launch and commit it on its own.

    Everything else this request wrote so far (the consumed state, a cached key set) is
    rolled back first: a refused launch changes nothing but the pending deployment an
    admin must see, and an auto-approved one is validated again from the start.
    """
    session = get_session()
    registration_id = registration.id
    session.rollback()
    row = session.get(LtiRegistration, registration_id)
    if row is None:  # pragma: no cover - deleted meanwhile
        return LtiDeploymentStatus.PENDING
    deployment = regs.deployment_for_launch(session, registration=row, deployment_id=deployment_id)
    status = deployment.status
    session.commit()
    return status


# --------------------------------------------------------------------------- building blocks


def _tool_conf() -> SqlAlchemyToolConf:
    return SqlAlchemyToolConf(get_session(), get_secret_box())


def _storage() -> DbLaunchDataStorage:
    return DbLaunchDataStorage(LtiCache(get_session()))


def _params() -> Mapping[str, str]:
    return request.form if request.method == "POST" else request.args


def _message_launch(flask_request: TandemRequest) -> TandemMessageLaunch:
    return TandemMessageLaunch(
        flask_request,
        _tool_conf(),
        cookie_service=TandemCookieService(flask_request),
        launch_data_storage=_storage(),
        requests_session=platform_session(),
    )


# --------------------------------------------------------------------------- views


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """OIDC third-party-initiated login (LTI 1.3 core §5.1.1)."""
    params = _params()
    for name in ("iss", "login_hint", "target_link_uri"):
        if not params.get(name):
            raise LaunchRefused(
                _("The login request lacks '%(name)s'. Open Tandem from the course.", name=name)
            )
    if not _on_base_url(params.get("target_link_uri")):
        raise LaunchRefused(
            _("The login asks to open an address that is not this Tandem ('target_link_uri').")
        )
    flask_request = TandemRequest()
    oidc = TandemOIDCLogin(
        flask_request,
        _tool_conf(),
        cookie_service=TandemCookieService(flask_request),
        launch_data_storage=_storage(),
    )
    if request.headers.get("Sec-Fetch-Dest") == "iframe":
        # pylti1p3 pastes these into its page as they are: escape the translations.
        oidc.enable_check_cookies(
            main_msg=str(
                escape(_("Your browser blocks the cookies Tandem needs inside the course page."))
            ),
            click_msg=str(escape(_("Open Tandem in a new window"))),
            loading_msg=str(escape(_("Opening Tandem…"))),
        )
    try:
        response: Response = oidc.redirect(launch_url())
    except OIDCException as exc:
        raise LaunchRefused(
            _(
                "This platform is not registered with Tandem (or the login request is "
                "incomplete: %(reason)s). An admin registers it with 'tandem lti "
                "add-platform' or a registration URL.",
                reason=str(exc),
            ),
            code=400,
            name=_("Unknown platform"),
        ) from exc
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/launch")
def launch() -> Response:
    """Validate a launch, link the user, start a session and open the activity."""
    flask_request = TandemRequest()
    message_launch = _message_launch(flask_request)
    try:
        try:
            message_launch.validate()
        except DeploymentJustApproved:
            message_launch = _message_launch(flask_request)
            message_launch.validate()
    except LtiException as exc:
        raise LaunchRefused(_("The launch is not valid: %(reason)s.", reason=str(exc))) from exc
    body = message_launch._jwt["body"]
    registration = message_launch.registration_row
    assert registration is not None  # noqa: S101 (validated above)
    custom = body.get(CLAIM["custom"])
    custom = custom if isinstance(custom, Mapping) else {}
    activity = activities.by_key(
        custom.get("activity") if isinstance(custom.get("activity"), str) else None
    )
    deep_link = message_launch.is_deep_link_launch()
    if deep_link and role_for(body.get(CLAIM["roles"])) not in (
        ActorRole.COORDINATOR,
        ActorRole.ADMIN,
    ):
        raise LaunchRefused(
            _("Only teachers and administrators of the course can add Tandem activities."),
            code=403,
            name=_("Not allowed"),
        )
    try:
        accepted = accept_launch(
            get_session(),
            registration=registration,
            deployment_id=message_launch.deployment_id or "",
            claims=body,
            activity=activity.key if activity else None,
        )
    except PluginError as exc:
        raise LaunchRefused(
            error_text(exc), code=exc.status_code, name=_("Cannot open Tandem")
        ) from exc
    presentation = body.get(CLAIM["launch_presentation"])
    locale = body.get("locale") or (
        presentation.get("locale") if isinstance(presentation, Mapping) else None
    )
    person = accepted.person
    response = make_response()
    ws = web_session.start(
        response,
        org_id=registration.org_id,
        person_id=person.id,
        role=accepted.role,
        display_name=f"{person.given_name} {person.family_name}",
        locale=str(locale or "en")[:16],
        registration_id=registration.id,
        link_id=accepted.link.id if accepted.link else None,
        program_id=accepted.program.id if accepted.program else None,
        activity=activity.key if activity else None,
        launch_id=message_launch.get_launch_id() if deep_link else None,
    )
    if deep_link:
        return _picker(response, ws, body)
    endpoint = activities.landing_endpoint(ws.activity, coordinator=ws.is_coordinator)
    response.status_code = 303
    if accepted.program is not None:
        response.headers["Location"] = url_for(endpoint, program_id=accepted.program.id)
    else:
        response.headers["Location"] = url_for("pages.home")
    return response


def _picker(response: Response, ws: web_session.WebSession, body: Mapping[str, Any]) -> Response:
    settings = body.get("https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings")
    settings = settings if isinstance(settings, Mapping) else {}
    accept_types = settings.get("accept_types") or ["ltiResourceLink"]
    if "ltiResourceLink" not in accept_types:
        raise LaunchRefused(_("The platform does not accept links here (accept_types)."))
    open_programs = [
        p
        for p in programs.list_programs(get_session(), org_id=ws.org_id)
        if p.status is not ProgramStatus.CLOSED
    ]
    html = render_template(
        "lti/deep_link_picker.html",
        activities=activities.ACTIVITIES,
        programs=open_programs,
        multiple=bool(settings.get("accept_multiple", True)),
        selected_program=ws.program_id,
    )
    response.set_data(html)
    response.mimetype = "text/html"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/deep-link")
def deep_link() -> Response:
    """Answer a deep-linking request with the picked activities (signed JWT form post)."""
    ws = web_session.require()
    web_session.check_csrf(ws)
    if not ws.is_coordinator or not ws.launch_id:
        raise Forbidden(_("Only a content-selection launch by a teacher can add activities."))
    program_raw = request.form.get("program", "")
    if not (program_raw.isdigit() and len(program_raw) < 10):
        raise BadRequest(_("Choose a program for the activities."))
    try:
        program = programs.get_program(get_session(), org_id=ws.org_id, program_id=int(program_raw))
    except NotFound as exc:
        raise BadRequest(_("Choose a program for the activities.")) from exc
    picked = [activities.by_key(k) for k in request.form.getlist("activity")]
    chosen = [a for a in picked if a is not None]
    if not chosen:
        raise BadRequest(_("Choose at least one activity."))
    flask_request = TandemRequest()
    try:
        message_launch = TandemMessageLaunch.from_cache(
            ws.launch_id,
            flask_request,
            _tool_conf(),
            cookie_service=TandemCookieService(flask_request),
            launch_data_storage=_storage(),
            requests_session=platform_session(),
        )
        settings = message_launch.get_launch_data().get(
            "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", {}
        )
        if not settings.get("accept_multiple", True):
            chosen = chosen[:1]
        resources = [_resource(a, program) for a in chosen]
        html = message_launch.get_deep_link().output_response_form(resources)
    except LtiException as exc:
        raise Unauthorized(
            _("The content selection has expired. Start it again from the course.")
        ) from exc
    audit.record(
        get_session(),
        org_id=ws.org_id,
        actor=ws.actor().label,
        action="lti.activities_linked",
        object_type="program",
        object_id=program.id,
        details={"activities": [a.key for a in chosen]},
    )
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


def _resource(activity: activities.Activity, program: Program) -> DeepLinkResource:
    resource = (
        DeepLinkResource()
        .set_url(launch_url())
        .set_title(
            _("%(activity)s (%(program)s)", activity=activity.title, program=program.name)[:250]
        )
        .set_custom_params({"activity": activity.key, "program": str(program.id)})
    )
    if activity.graded:
        resource.set_lineitem(
            LineItem()
            .set_score_maximum(100)
            .set_label(_("Reverse mentoring completion: %(program)s", program=program.name)[:250])
            .set_resource_id(f"tandem-program-{program.id}")
            .set_tag("completion")
        )
    return resource


@bp.errorhandler(CookiesBlocked)
def cookies_blocked(exc: CookiesBlocked) -> Response:
    """Offer the new-window login instead of an error page."""
    response = exc.get_response()
    response.headers["Cache-Control"] = "no-store"
    return response
