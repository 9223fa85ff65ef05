-- Calls still going on, by line: the dashboard's live count for some lines
-- read every recent call of those lines through the (phone_number,
-- started_at) index (6.5 ms for a busy line at 10 M calls); this partial
-- index holds only the calls in progress.
CREATE INDEX calls_live_line_idx ON calls (phone_number, started_at)
    WHERE status IN ('ringing', 'queued', 'in-progress');
