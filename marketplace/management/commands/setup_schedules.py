"""``manage.py setup_schedules``: make sure every periodic task is scheduled."""

from django.core.management.base import BaseCommand

from marketplace.schedules import PERIODIC_TASKS, schedules_sync


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of the platform's periodic tasks."

    def handle(self, *args: object, **options: object) -> None:
        schedules_sync()
        for task in PERIODIC_TASKS:
            self.stdout.write(f"  every {task.minutes} min: {task.name} ({task.description})")
