"""The configured website adapter, built from the settings.

Secrets (the WordPress Application Password, the webhook key) are read from the settings
only, which take them from the file or the environment (``WARTA_WEBSITE_PASSWORD``,
``WARTA_WEBSITE_WEBHOOK_SECRET``). They are handed to the adapter and nowhere else: the
adapters' ``repr`` leaves them out, and nothing here logs them.
"""

from __future__ import annotations

from publisher.base import Adapter
from publisher.webhook import WebhookAdapter
from publisher.wordpress import WordPressAdapter
from workflow.config import ConfigError, Settings, WebsiteSettings

__all__ = ["make_adapter"]


def make_adapter(settings: Settings) -> Adapter | None:
    """The adapter ``website.adapter`` names, or None for ``"none"`` (approved items are
    not published by Warta). Raises ConfigError naming the missing key."""
    website = settings.website
    if website.adapter == "none":
        return None
    if website.adapter == "wordpress":
        return _wordpress(website)
    if website.adapter == "webhook":
        return _webhook(website)
    # load_settings already refuses other names; this is for hand-built Settings.
    raise ConfigError("website.adapter", f"unknown adapter {website.adapter!r}")


def _require(website: WebsiteSettings, *names: str) -> None:
    for name in names:
        if not str(getattr(website, name)).strip():
            raise ConfigError(f"website.{name}", f"required for the {website.adapter} adapter")


def _wordpress(website: WebsiteSettings) -> WordPressAdapter:
    _require(website, "base_url", "username", "password")
    return WordPressAdapter(
        website.base_url,
        website.username,
        website.password,
        # The worker puts the office's status (or "future" for a scheduled item) in each
        # request; the override is only set for pending/draft, so that check() asks for the
        # capabilities those need and a scheduled item on such a site still waits for review.
        post_status=None if website.post_status == "publish" else website.post_status,
        timeout=website.timeout_seconds,
        create_missing_terms=website.create_missing_terms,
        # false means "not known to need it": detect, falling back to ?rest_route= on a 404,
        # so a site without pretty permalinks works without anyone touching the setting.
        rest_route_form=True if website.rest_route_form else None,
        withdrawn_status=website.withdrawn_status,
    )


def _webhook(website: WebsiteSettings) -> WebhookAdapter:
    _require(website, "webhook_url", "webhook_secret")
    return WebhookAdapter(
        website.webhook_url, website.webhook_secret, timeout=website.timeout_seconds
    )
