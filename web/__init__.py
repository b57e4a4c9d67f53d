"""Warta web: the Telegram Mini App and the office's browser pages, over the same workflow."""
