"""Channel-layer group names, in one place so senders and consumers agree."""


def courier_group(courier_pk: int) -> str:
    """Everything addressed to one courier (offers, withdrawals, job updates)."""
    return f"courier.{courier_pk}"


def shop_group(shop_pk: int) -> str:
    """Updates about one shop's jobs."""
    return f"shop.{shop_pk}"


def job_group(job_pk: object) -> str:
    """Live updates for one job's trackers."""
    return f"job.{job_pk}"


def track_group(job_pk: object) -> str:
    """The recipient's tracking sockets for one job: only frames a recipient may see."""
    return f"track.{job_pk}"
