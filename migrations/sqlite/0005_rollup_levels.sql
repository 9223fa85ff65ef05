-- Rollups gain UTC-hour rows (level 2) and a row per bucket for all lines
-- together (phone_number ''); see src/store/rollup.rs. Emptying the table
-- makes the store rebuild it from the raw calls when it next opens.
DELETE FROM rollups;
