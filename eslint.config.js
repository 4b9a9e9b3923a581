// Lint keeps the protocol cores sans-IO (STYLE.md §7): only src/**/io/**, src/runtime/** and
// src/cli/** may touch sockets, timers, the wall clock or global randomness.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = ['node:dgram', 'node:net', 'node:http', 'node:https', 'node:tls', 'node:timers',
  'node:fs', 'node:child_process', 'dgram', 'net', 'http', 'https', 'tls', 'timers', 'fs', 'ws'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/io/**', 'src/runtime/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...ioModules.map((name) => ({ name, message: 'Protocol cores are sans-IO: do I/O in src/**/io/.' })),
          ...['node:crypto', 'crypto'].map((name) => ({
            name,
            importNames: ['randomBytes', 'randomFillSync', 'randomFill', 'randomInt', 'randomUUID', 'getRandomValues'],
            message: 'Use the injected Rng.',
          })),
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'Use the injected Clock and nextDeadline(); the runtime owns timers.' },
        { name: 'setInterval', message: 'Use the injected Clock and nextDeadline(); the runtime owns timers.' },
        { name: 'setImmediate', message: 'The runtime owns scheduling.' },
        { name: 'performance', message: 'Use the injected Clock.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Use the injected Clock.' },
        { object: 'Math', property: 'random', message: 'Use the injected Rng.' },
        { object: 'crypto', property: 'getRandomValues', message: 'Use the injected Rng.' },
        { object: 'crypto', property: 'randomBytes', message: 'Use the injected Rng.' },
      ],
    },
  },
);
