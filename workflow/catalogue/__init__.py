"""The one message catalogue of Warta: the bot's, the reports' and the command line's words."""
