// @ts-check
import importPlugin from 'eslint-plugin-import';
import tseslint from 'typescript-eslint';

/**
 * Type-aware linting of every .ts file. `projectService` picks, for each file, the nearest
 * tsconfig.json that includes it: the root one for host code, sandbox/guest, sdk and functions their
 * own. Lenient on purpose (recommended, not strict), plus the rules reviews tend to miss.
 */
export default tseslint.config(
  { ignores: ['**/node_modules/**', '.cache/**', 'coverage/**', '**/*.d.ts'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    // eslint-plugin-import rather than import-x: import-x's resolver ships per-platform native
    // packages that the registry reachable here does not all serve, which breaks `npm ci`.
    plugins: { import: importPlugin },
    settings: {
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      'import/no-cycle': 'error',
      // `async () => value` is a fine way to satisfy a Promise-returning interface.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read untyped JSON answers, and hostile fixtures are unsafe on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['test/fixtures/**/*.ts'],
    rules: {
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/no-implied-eval': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      'prefer-rest-params': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.recommended],
  },
);
