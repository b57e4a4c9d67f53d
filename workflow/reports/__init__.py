"""The SOP report: its figures (`statistics`), in words (`text`), as files (`export`)."""
