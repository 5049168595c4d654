"""The sandbox: sandbox shops' jobs walked by the platform's built-in robo courier.

``specs`` parses ``test_specifications``, ``robots`` makes the robo courier and reports its
positions, ``services`` takes each step through the real courier services, ``queue`` and
``tasks`` run the automatic walk on django-q2. Nothing is imported here, so dispatch can
import ``jobs.sandbox.queue`` without pulling in the courier services.
"""
