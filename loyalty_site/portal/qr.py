"""QR codes drawn as inline SVG (segno): no image request and nothing the
Content-Security-Policy has to allow. Always a full QR code, never a Micro QR code,
which many till scanners cannot read."""

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(text: str, *, title: str) -> SafeString:
    """``text`` as an SVG QR code (black on white, with the quiet zone around it), sized by
    CSS (``svg.qr``); ``title`` is its accessible name."""
    code = segno.make(text, micro=False)
    svg = code.svg_inline(
        omitsize=True, border=4, dark="#000", light="#fff", title=title, svgclass="qr"
    )
    # segno escapes the title; the rest is its own markup.
    return mark_safe(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S308
