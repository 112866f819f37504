"""Sign-in, sign-out and who am I: the JSON API and the HTML form."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, TooManyRequestsException
from litestar.middleware.csrf import generate_csrf_token
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from server.domain.accounts import services
from server.domain.accounts.guards import requires_login
from server.domain.accounts.middleware import SESSION_COOKIE
from server.domain.accounts.schemas import LoginRequest, Me
from server.settings import Settings

CSRF_COOKIE = "csrftoken"


def _me(user: services.CurrentUser) -> Me:
    return Me(id=user.id, email=user.email, name=user.name, role=user.role, team=user.team, team_name=user.team_name)  # type: ignore[arg-type]


def _session_cookies(request: Request, token: str, settings: Settings) -> list[Cookie]:
    secure = settings.security.secure_cookies
    cookies = [
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            max_age=settings.security.session_days * 86400,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
        )
    ]
    if CSRF_COOKIE not in request.cookies:
        # The phone needs a CSRF token for its next unsafe request; hand it one with the session.
        cookies.append(
            Cookie(key=CSRF_COOKIE, value=generate_csrf_token(settings.security.secret_key), samesite="lax", secure=secure, path="/")
        )
    return cookies


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def sign_in(request: Request, email: str, password: str, settings: Settings) -> str:
    """A new session token, or the reason there is none."""
    address = _client(request)
    if await services.login_throttled(email, address, settings.security):
        raise TooManyRequestsException(
            "too many failed sign-ins; wait a few minutes and try again",
            headers={"Retry-After": str(settings.security.login_window_seconds)},
        )
    user_id = await services.authenticate(email, password, address, settings.security)
    if user_id is None:
        raise NotAuthorizedException("wrong e-mail or password")
    return await services.start_session(user_id, settings.security)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", status_code=200)
    async def login(self, request: Request, data: LoginRequest, settings: Settings) -> Response[Me]:
        if request.content_type[0] != "application/json":
            # CSRF checks skip this endpoint; a cross-site form cannot send JSON, so insist on it.
            raise HTTPException("send the sign-in as application/json", status_code=415)
        token = await sign_in(request, data.email, data.password, settings)
        user = await services.user_for_session(token)
        assert user is not None
        return Response(_me(user), cookies=_session_cookies(request, token, settings))

    @post("/logout", operation_id="logout", status_code=204)
    async def logout(self, request: Request) -> Response[None]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await services.end_session(token)
        return Response(None, status_code=204, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])

    @get("/me", operation_id="me", guards=[requires_login])
    async def me(self, request: Request) -> Me:
        return _me(request.user)


class LoginPageController(Controller):
    """The server-rendered sign-in form: works with no JavaScript at all."""

    path = "/"
    include_in_schema = False

    @get("/", operation_id="home")
    async def home(self, request: Request) -> Template:
        # Signed in: the app. Signed out: the form, which works with no JavaScript at all.
        if request.scope.get("user") is None:
            return Template("login.html", context={"error": None, "email": ""})
        return Template("app.html", headers={"Cache-Control": "no-cache"})

    @get("/login", operation_id="login_page")
    async def login_page(self, request: Request) -> Template | Redirect:
        if request.scope.get("user") is not None:
            return Redirect("/", status_code=HTTP_303_SEE_OTHER)
        return Template("login.html", context={"error": None, "email": ""})

    @post("/login", operation_id="login_form")
    async def login_form(
        self,
        request: Request,
        settings: Settings,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response:
        email = str(data.get("email", "")).strip()
        password = str(data.get("password", ""))
        try:
            if not email or not password:
                raise NotAuthorizedException("enter your e-mail and password")
            token = await sign_in(request, email, password, settings)
        except (NotAuthorizedException, TooManyRequestsException) as error:
            return Template(
                "login.html", context={"error": error.detail, "email": email}, status_code=error.status_code
            )
        return Redirect("/", status_code=HTTP_303_SEE_OTHER, cookies=_session_cookies(request, token, settings))

    @post("/logout", operation_id="logout_form")
    async def logout_form(self, request: Request) -> Redirect:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await services.end_session(token)
        return Redirect(
            "/", status_code=HTTP_303_SEE_OTHER, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")]
        )
