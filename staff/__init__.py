"""Tools for the International Cooperation Office staff who keep the assistant current.

`make check` (staff.check), `make train` (staff.train), `make test-bot` (staff.test_bot) and
`make unanswered` (staff.unanswered); docs/STAFF.md explains them for non-programmers.
"""
import logging
import sys


def setup_logging() -> None:
    """Plain messages on the terminal for the staff tools (no timestamps or module names), whatever
    Rasa does to the root logger when it loads."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    staff = logging.getLogger("staff")
    staff.handlers[:] = [handler]
    staff.setLevel(logging.INFO)
    staff.propagate = False


def setup_model_tool() -> None:
    """For the staff tools that load a trained model: skops before Rasa and TensorFlow (a faster load,
    rasa_addons/server.py says why), the server's speed fixes (the same results, tested in
    tests/test_speedups.py: the sets play as the server answers, faster), plain messages, and none of
    Rasa's progress lines."""
    from rasa.utils.log_utils import configure_structlog

    from rasa_addons import speedups
    from rasa_addons.server import import_skops_first

    import_skops_first()
    speedups.apply()
    setup_logging()
    logging.getLogger("rasa").setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)
