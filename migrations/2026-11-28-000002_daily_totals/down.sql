DROP TABLE photomaton_daily_totals;
