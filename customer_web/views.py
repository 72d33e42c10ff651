"""Pages: sign-in (``auth``), the customer's own data (``account``), probes (``ops``)."""

from __future__ import annotations

import functools
import logging

import orjson
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from customer_web.accounts import Accounts, normalise_email
from customer_web.data import CustomerData, from_ref, map_view
from customer_web.mail import send, sign_in_message
from customer_web.security import security_event

log = logging.getLogger(__name__)

auth = Blueprint("auth", __name__)
account = Blueprint("account", __name__)
ops = Blueprint("ops", __name__)

MAX_EMAIL = 254
MAX_PAGE = 10_000


def _accounts() -> Accounts:
    return current_app.extensions["hover_accounts"]


def _data() -> CustomerData:
    return current_app.extensions["hover_data"]


def load_customer() -> None:
    """The customer id comes from the server-side session only: the cookie holds a random
    id, the warehouse says whose it is (or that it was revoked)."""
    g.customer_id = None
    session_id = request.cookies.get(current_app.config["SESSION_ID_COOKIE"])
    if not session_id or request.endpoint in ("static", "ops.health", "ops.ready"):
        return
    g.customer_id = _accounts().customer_of(session_id[:200])
    if g.customer_id is None:
        g.drop_session_cookie = True
        security_event("session_refused", "a session cookie that is unknown, expired or "
                       "revoked was presented")


def signed_in(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("customer_id") is None:
            return redirect(url_for("auth.sign_in"), code=303)
        return view(*args, **kwargs)
    return wrapper


# -- sign-in ---------------------------------------------------------------------------------
@auth.get("/sign-in")
def sign_in():
    if g.get("customer_id") is not None:
        return redirect(url_for("account.trips"), code=303)
    return render_template("sign_in.html")


@auth.post("/sign-in")
def request_link():
    email = normalise_email(request.form.get("email", ""))
    if not email or len(email) > MAX_EMAIL or "@" not in email:
        return render_template("sign_in.html", error="Enter the email address of your "
                               "profile, for example name@example.com.", email=email), 422
    signed = _accounts().issue_link(email)
    if signed is None:
        log.info("sign-in link requested for an email without a profile")
    else:
        config = current_app.config
        link = config["PUBLIC_URL"].rstrip("/") + url_for("auth.confirm", token=signed)
        send(current_app, sign_in_message(sender=config["MAIL_FROM"], to=email, link=link,
                                          ttl_minutes=config["LINK_TTL_S"] // 60))
        log.info("sign-in link sent")
    # The same answer either way: the page does not tell who has a profile.
    return render_template("link_sent.html")


def _refused_link(refusal):
    security_event(refusal.value, f"sign-in refused: {refusal.value.replace('_', ' ')}")
    return render_template("error.html", status=400, title="This sign-in link does not work",
                           detail="It may have been used already, be older than "
                           f"{current_app.config['LINK_TTL_S'] // 60} minutes, or be "
                           "incomplete. Ask for a new one."), 400


@auth.get("/sign-in/<token>")
def confirm(token: str):
    # Opening the link only shows a button: mail scanners that fetch links must not use it.
    refusal = _accounts().check_link(token)
    if refusal is not None:
        return _refused_link(refusal)
    return render_template("confirm.html", token=token)


@auth.post("/sign-in/<token>")
def use_link(token: str):
    accounts, config = _accounts(), current_app.config
    check = accounts.use_link(token)
    if check.refusal is not None:
        return _refused_link(check.refusal)
    # Rotation: whatever session this browser had ends, and a new id (and CSRF token) starts.
    old = request.cookies.get(config["SESSION_ID_COOKIE"])
    if old:
        accounts.end_session(old[:200])
    session.clear()
    session_id = accounts.start_session(check.customer_id)
    log.info("signed in", extra={"customer_id": check.customer_id})
    response = redirect(url_for("account.trips"), code=303)
    response.set_cookie(config["SESSION_ID_COOKIE"], session_id, max_age=config["SESSION_TTL_S"],
                        secure=config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


@auth.post("/sign-out")
@signed_in
def sign_out():
    ended = _accounts().end_all_sessions(g.customer_id)
    log.info("signed out everywhere", extra={"customer_id": g.customer_id, "sessions": ended})
    session.clear()
    response = redirect(url_for("auth.sign_in", signed_out=1), code=303)
    response.delete_cookie(current_app.config["SESSION_ID_COOKIE"])
    return response


# -- the customer's own data -------------------------------------------------------------------
@account.get("/")
@signed_in
def home():
    return redirect(url_for("account.trips"), code=303)


@account.get("/profile")
@signed_in
def profile():
    data = _data()
    return render_template("profile.html", profile=data.profile(g.customer_id),
                           totals=data.monthly_totals(g.customer_id))


@account.get("/trips")
@signed_in
def trips():
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(404)
    per_page = current_app.config["TRIPS_PER_PAGE"]
    rows, more = _data().trips(g.customer_id, page=page, per_page=per_page)
    return render_template("trips.html", trips=rows, page=page, more=more)


@account.get("/trips/<int:hoverboard_id>/<int:ref>")
@signed_in
def trip(hoverboard_id: int, ref: int):
    try:
        start = from_ref(ref)
    except OverflowError:
        start = None
    found = None if start is None else _data().trip(g.customer_id, hoverboard_id, start)
    if found is None:
        # Not the customer's (another's, or none): the same answer, and a security event.
        security_event("foreign_trip", "a trip that is not the signed-in customer's was asked for",
                       hoverboard_id=hoverboard_id)
        abort(404)
    return render_template("trip.html", trip=found, map=map_view(found))


@account.get("/export.json")
@signed_in
def export():
    body = orjson.dumps(_data().export(g.customer_id), option=orjson.OPT_INDENT_2)
    log.info("data exported", extra={"customer_id": g.customer_id})
    return current_app.response_class(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="hoverboard-my-data.json"'})


# -- probes ------------------------------------------------------------------------------------
@ops.get("/health")
def health():
    return {"status": "ok"}


@ops.get("/ready")
def ready():
    with current_app.extensions["hover_warehouse"].transaction() as conn:
        conn.execute("SELECT 1 FROM customer_web.session LIMIT 1")
    return {"status": "ready"}
