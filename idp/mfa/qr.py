"""QR codes as inline SVG, rendered on the server (no script, no image request, no Pillow)."""

from __future__ import annotations

import segno


def qr_svg(data: str, *, title: str = "QR code for your authenticator app") -> str:
    """An <svg> element; the title (plain text, not escaped here) is its accessible name."""
    code = segno.make(data, error="m")
    svg: str = code.svg_inline(scale=5, title=title, svgclass="qr-code", lineclass=None, omitsize=True)
    return svg.replace("<svg ", '<svg role="img" ', 1)
