"""Alembic environment: runs on the engine handed over by `workflow.db.upgrade`."""

from alembic import context

from workflow.models import Base

connectable = context.config.attributes["engine"]

with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
