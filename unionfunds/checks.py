"""System checks for what a deployment can get half right."""

from pathlib import Path

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.translation)
def translations_compiled(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A catalogue that is not compiled (or older than its .po) serves English
    text under a `Content-Language: zh-hans` header: a half-translated site."""
    problems = []
    for locale_path in settings.LOCALE_PATHS:
        for source in sorted(Path(locale_path).glob("*/LC_MESSAGES/*.po")):
            compiled = source.with_suffix(".mo")
            if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
                problems.append(
                    checks.Warning(
                        f"{compiled} is missing or older than {source.name}: pages fall back to English.",
                        hint="Run `make messages` (or `manage.py compilemessages`).",
                        id="unionfunds.W001",
                    )
                )
    return problems
