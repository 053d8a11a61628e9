"""The opening of a self-contained HTML page, shared by the training and screening reports."""

from __future__ import annotations

import html


def page_start(title: str, css: str) -> str:
    """Doctype, head with the inline style sheet, and the page header's title (the caller
    writes the rest of the header, then closes it)."""
    title = html.escape(str(title))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
"""
