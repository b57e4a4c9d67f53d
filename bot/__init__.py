"""Telegram transport: handlers, menus, cards, the durable inbox and the notifier."""
