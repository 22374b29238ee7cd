"""The delivery engine: claims, sends, records, retries, take-downs, rate limits, the queue."""
