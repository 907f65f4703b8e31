"""Redtrust sign-in for Flask.

::

    redtrust = Redtrust()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config.from_pyfile("settings.py")   # REDTRUST_SERVER_URL = ..., and so on
        redtrust.init_app(app)
        return app

    @bp.get("/me")
    @redtrust_required
    def me():
        current_redtrust.access_token      # fresh bearer for this user
        current_redtrust.client            # a UserClient bound to it
"""

from importlib.util import find_spec

# Before the first Flask import: an app without it gets one line naming the extra.
if find_spec("flask") is None:
    raise ImportError(
        "redtrust_flask needs Flask, which is not installed: "
        'pip install "redtrust-middleware[flask]"',
        name="flask",
    )

from redtrust_middleware.web import RedtrustContext

from .decorators import current_redtrust, get_redtrust, redtrust_required
from .extension import Redtrust, RedtrustState, state

__all__ = [
    "Redtrust",
    "RedtrustContext",
    "RedtrustState",
    "current_redtrust",
    "get_redtrust",
    "redtrust_required",
    "state",
]
