"""Who may use the web view: the owner of the home folder, through a browser on this machine, and nobody else.

The model is Jupyter's. The history holds copies of files only their owner may read, so:

- the server listens on the loopback by default (FLASK_HOST), and answers only requests whose Host header is
  FLASK_SERVER_NAME: a page of another site that resolves its own name to 127.0.0.1 (DNS rebinding) is refused;
- every page, download and event stream needs the token kept in ``APP_PATH/web_token`` (mode 0600, made at the
  first start): given once as ``?token=...`` (the login URL printed at start) it sets a session cookie (signed
  with a key derived from the token, HttpOnly, SameSite=Lax, named for the port); a script may send
  ``Authorization: token ...`` instead;
- every request that changes something (any method but GET and HEAD) carries the session's CSRF token in the
  form field ``csrf_token``, and an Origin header, when sent, must be this server's;
- each response forbids inline scripts and anything from elsewhere (Content-Security-Policy), framing and
  MIME sniffing, and sends no Referer; pages are not cached.
"""
import hashlib
import hmac
import os
import secrets
from urllib.parse import urlencode

from flask import abort, redirect, request, session

from csv_manager.errors import CsvManagerError

TOKEN_FILE = "web_token"
TOKEN_PARAMETER = "token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def load_token(app_path):
    """The web token of ``app_path``, made (random, 0600) if there is none yet."""
    path = os.path.join(app_path, TOKEN_FILE)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise CsvManagerError("Cannot create the web token %s: %s" % (path, error.strerror))
    else:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_urlsafe(32) + "\n")
    try:
        with open(path, encoding="ascii") as stream:
            token = stream.read().strip()
    except (OSError, ValueError) as error:
        raise CsvManagerError("Cannot read the web token %s: %s" % (path, error))
    if len(token) < 16:
        raise CsvManagerError("The web token in %s is too short to be a secret; delete the file to get a new one."
                              % path)
    return token


class Guard:
    """Checks every request of ``flask`` (see the module docstring) against ``token`` and ``server_name``."""

    def __init__(self, flask, token, server_name):
        self.token = token
        self.server_name = server_name
        flask.secret_key = hmac.new(token.encode(), b"csv_manager web session", hashlib.sha256).digest()
        flask.config.update(SESSION_COOKIE_NAME="csv_manager_%s" % server_name.rpartition(":")[2],
                            SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
        flask.jinja_env.globals.update(csrf_token=self.csrf_token)
        flask.before_request(self.check)
        flask.after_request(self.protect)

    def check(self):
        """Refuse what may not be served (403), log in by the token, and check the CSRF token of a change."""
        if request.host != self.server_name:
            abort(403, "This server answers to %s only, not to %r." % (self.server_name, request.host))
        if request.endpoint is not None and request.endpoint.endswith(".static"):
            return None  # the stylesheet and script of every page, the login page's too: no data
        given = request.args.get(TOKEN_PARAMETER)
        if given is not None:
            return self._log_in(given)
        if not (session.get("login") or self._authorised_by_header()):
            abort(403, "Log in with the URL that 'csv_manager server_start' printed (it holds the token from %s "
                       "in the application folder)." % TOKEN_FILE)
        if request.method not in SAFE_METHODS:
            self._check_change()
        return None

    def protect(self, response):
        response.headers.update(HEADERS)
        return response

    def csrf_token(self):
        """The CSRF token of this session, for the forms of a page."""
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    def _log_in(self, given):
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            abort(403, "That token is not this server's.")
        session.clear()
        session["login"] = True
        query = [(name, value) for name, value in request.args.items(multi=True) if name != TOKEN_PARAMETER]
        return redirect(request.path + ("?" + urlencode(query) if query else ""), code=303)

    def _authorised_by_header(self):
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "token" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def _check_change(self):
        origin = request.headers.get("Origin")
        if origin is not None and origin != "http://%s" % self.server_name:
            abort(403, "A change may only come from this server's own pages, not from %r." % origin)
        if self._authorised_by_header():
            return
        given = request.form.get(CSRF_FIELD, "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            abort(403, "The form is missing its CSRF token or has an old one: reload the page and try again.")
