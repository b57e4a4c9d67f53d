"""The composition root: command line, wiring of bot, publisher and web, demo, doctor, backups."""
