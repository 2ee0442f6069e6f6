DROP TABLE alert_deliveries;
DROP TABLE alert_mutes;
DROP TABLE notification_channels;
