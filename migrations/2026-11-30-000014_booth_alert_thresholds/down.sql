DROP TABLE photomaton_alert_delays;
