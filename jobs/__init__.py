"""Jobs: quotes, the delivery lifecycle, dispatch, tracking and shop webhooks."""
