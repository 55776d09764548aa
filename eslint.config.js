import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'test-artifacts/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read settings through config/, not process.env.',
        },
      ],
    },
  },
  {
    files: ['public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        window: 'readonly',
        Array: 'readonly',
        Number: 'readonly',
        Intl: 'readonly',
        Event: 'readonly',
      },
    },
  },
  {
    // Control characters are what these files look for.
    files: ['test/**', 'protocol/receipt-layout.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['config/**', 'broker-server/start-all.ts', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['agent/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/broker-server/**'], message: 'The agent never imports server code.' }] },
      ],
    },
  },
  {
    files: ['broker-server/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/agent/**'], message: 'The server never imports agent code.' }] },
      ],
    },
  },
  {
    files: ['protocol/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/agent/**', '**/broker-server/**'], message: 'protocol/ imports neither side.' }] },
      ],
    },
  },
  {
    files: ['runtime/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/agent/**', '**/broker-server/**', '**/config/**', '**/protocol/**'],
              message: 'runtime/ is the plumbing under both programs: it imports none of them.',
            },
          ],
        },
      ],
    },
  },
  {
    // A function that grows past a screen is split where it is (issue 21): composition roots included.
    files: ['broker-server/**/*.ts', 'agent/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }] },
  },
);
