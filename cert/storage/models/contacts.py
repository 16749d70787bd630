"""Tables of the contact database: the constituency's organisations (with their hierarchy), their
network objects (CIDR ranges, AS numbers, domains), their contacts, and the version counter every
edit moves (``cert.constituency.live`` reloads the constituency when it changed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class ConstituencyOrganization(Base):
    """An organisation of the constituency; ``parent`` is the id of the one it is part of."""

    __tablename__ = "constituency_organizations"
    __table_args__ = (
        UniqueConstraint("name", name="uq_constituency_organizations_name"),
        Index("ix_constituency_organizations_parent", "parent"),
    )
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str | None] = mapped_column(
        ForeignKey("constituency_organizations.id", ondelete="RESTRICT"), nullable=True)
    kind: Mapped[str] = mapped_column(String(80), default="")
    sector: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConstituencyNetworkObject(Base):
    """A network object of an organisation: ``kind`` is ``cidr``, ``asn`` or ``domain``; a value
    belongs to one organisation only."""

    __tablename__ = "constituency_network_objects"
    __table_args__ = (
        UniqueConstraint("kind", "value", name="uq_constituency_network_objects_kind_value"),
        Index("ix_constituency_network_objects_org", "organization_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("constituency_organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(255))


class ConstituencyContact(Base):
    """Someone of an organisation the CERT writes to (``cert.constituency.directory.Contact``)."""

    __tablename__ = "constituency_contacts"
    __table_args__ = (Index("ix_constituency_contacts_org", "organization_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("constituency_organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(50), default="")
    language: Mapped[str] = mapped_column(String(5), default="fr")
    pgp_key: Mapped[str] = mapped_column(Text, default="")
    smime_cert: Mapped[str] = mapped_column(Text, default="")


class ConstituencyVersion(Base):
    """One row (id 1), written when the database is first seeded; ``version`` moves on every edit."""

    __tablename__ = "constituency_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
