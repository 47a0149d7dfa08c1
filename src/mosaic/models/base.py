"""Declarative base with constraint naming conventions, and the tenant-owned mixin."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from sqlalchemy import DateTime, Enum, ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from mosaic.core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TenantOwned:
    """A row that belongs to one tenant; row-level security keeps it there.

    Every table with this mixin gets the ``tenant_isolation`` policy in its migration
    (``mosaic.migrations.rls.enable_tenant_isolation``); a test checks none is missing.
    """

    __tenant_owned__: ClassVar[bool] = True

    @declared_attr
    def tenant_id(cls) -> Mapped[UUID]:  # noqa: N805 - SQLAlchemy declared_attr signature
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def str_enum(enum: type[StrEnum], name: str) -> Enum:
    """A ``StrEnum`` stored as its values in a ``varchar`` with a CHECK constraint.

    Not a native PostgreSQL enum: adding a value then needs no ``ALTER TYPE`` migration.
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
