"""Daily landing files into the warehouse: `component` (the YAML type), `schema` (declared columns, header
inspection, drift policy), `loader` (DuckDB strategy), `snowflake` (Snowflake strategy), `sensor`."""
