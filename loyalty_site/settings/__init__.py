"""Default settings: development-friendly, DEBUG off unless DEBUG=1 is set."""

from .base import *  # noqa: F403
