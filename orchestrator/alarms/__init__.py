"""Alarms that are never lost: outbox → RabbitMQ → delivery to the 3D platform and DingTalk."""
