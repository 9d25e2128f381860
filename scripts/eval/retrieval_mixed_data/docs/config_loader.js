/**
 * Configuration loader for the web service.
 *
 * Settings come from three layers, later layers winning:
 *   1. built-in defaults (DEFAULTS below),
 *   2. a JSON file, found at APP_CONFIG_PATH or ./config/app.json,
 *   3. environment variables prefixed with APP_, e.g. APP_PORT=9000.
 * Nested keys in environment variables use a double underscore: APP_DB__POOL_SIZE=20.
 */

'use strict';

const fs = require('fs');
const path = require('path');

const DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  logLevel: 'info',
  db: { url: 'postgres://localhost:5432/app', poolSize: 10, statementTimeoutMs: 5000 },
  session: { cookieName: 'sid', ttlMinutes: 720 },
};

/** Thrown when the file cannot be parsed or a required value is missing. */
class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Merge `override` into `base` recursively; arrays are replaced, not concatenated. */
function deepMerge(base, override) {
  const out = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value && typeof value === 'object' && !Array.isArray(value) && typeof base[key] === 'object') {
      out[key] = deepMerge(base[key], value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function camel(name) {
  return name.toLowerCase().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** Values from APP_* variables; numbers and booleans are converted from strings. */
function fromEnv(env) {
  const out = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('APP_') || name === 'APP_CONFIG_PATH') continue;
    const keys = name.slice(4).split('__').map(camel);
    let value = raw;
    if (/^-?\d+$/.test(raw)) value = Number(raw);
    else if (raw === 'true' || raw === 'false') value = raw === 'true';
    let node = out;
    keys.slice(0, -1).forEach((k) => { node = node[k] = node[k] || {}; });
    node[keys[keys.length - 1]] = value;
  }
  return out;
}

/** Load the configuration. In production (NODE_ENV=production) a missing file is an error. */
function loadConfig(env = process.env) {
  const file = env.APP_CONFIG_PATH || path.join(process.cwd(), 'config', 'app.json');
  let fileConfig = {};
  if (fs.existsSync(file)) {
    try {
      fileConfig = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot parse ${file}: ${err.message}`);
    }
  } else if (env.NODE_ENV === 'production') {
    throw new ConfigError(`config file ${file} not found`);
  }
  const config = deepMerge(deepMerge(DEFAULTS, fileConfig), fromEnv(env));
  if (!config.db.url) throw new ConfigError('db.url is required');
  return Object.freeze(config);
}

module.exports = { loadConfig, ConfigError, DEFAULTS };
