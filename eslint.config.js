// Flat config: type-aware rules for everything TypeScript in the repository.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-check/**',
      'coverage/**',
      'node_modules/**',
      '.scratch/**',
      '.stryker-tmp/**',
      'reports/**',
      // Files copied into a copy of src/ by src/methods/extension.test.ts (their imports resolve there).
      'fixtures/extension/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // The core is framework-free: it must never import TensorFlow.js (or Node-only modules).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@tensorflow/*', 'node:*', '../engine/*', '../cli/*'] },
      ],
    },
  },
);
