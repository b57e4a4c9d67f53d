"""The media pipeline: a downloaded file checked by its content, normalised and stored.

No Telegram, no HTTP, no database here. The bot:

1. calls :func:`workflow.media.limits.check_declared_size` with the size Telegram declares,
   *before* downloading;
2. asks :meth:`workflow.media.storage.MediaStore.new_temp_path` for a temp file under
   ``<root>/tmp/`` and streams the download into it (in ``local_mode`` it copies the Bot API
   server's file there);
3. calls :meth:`~workflow.media.storage.MediaStore.store`, which always consumes (removes)
   that temp file and either returns a :class:`~workflow.media.storage.StoredMedia` or raises
   :class:`~workflow.media.refusals.MediaRejected`.

``store()`` is synchronous and CPU bound (Pillow); call it through ``asyncio.to_thread``.

One module per job: :mod:`~workflow.media.limits` (sizes and allow-lists),
:mod:`~workflow.media.refusals` (why a file was refused), :mod:`~workflow.media.sniffing`
(the type policy), :mod:`~workflow.media.documents` and :mod:`~workflow.media.videos`
(container structure checks), :mod:`~workflow.media.photos` (normalisation),
:mod:`~workflow.media.names` (display names), :mod:`~workflow.media.storage` (files on disk).
"""
