"""What deployment needs: settings, embedded services, topics, logging, the CLI and the supervisor."""
