"""ORM models, a file per aggregate. Importing this package registers every table."""

from mosaic.models.api_key import ApiKey
from mosaic.models.base import Base, TenantOwned
from mosaic.models.idempotency_record import IdempotencyRecord
from mosaic.models.tenant import Tenant

__all__ = ["ApiKey", "Base", "IdempotencyRecord", "Tenant", "TenantOwned"]
