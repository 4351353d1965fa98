<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Setup\Patch\Data\InstallOrderStatuses;

/**
 * i18n/<locale>.csv as Magento reads a module's dictionary (Magento\Framework\File\Csv: fgetcsv
 * with "," and '"'; column 1 the source text, column 2 its translation). Magento translates a
 * status label by its exact admin text (Order\Status::getStoreLabel(): __(label)) and the admin
 * form by the exact texts of etc/adminhtml/system.xml and etc/acl.xml, so each file must hold
 * exactly those texts, once each. Locales: Amazon's EU, JP and NA marketplace languages (English
 * is the source text).
 */
final class TranslationCsvTest extends TestCase
{
    private const MODULE = __DIR__ . '/../../';
    private const LOCALES = ['de_DE', 'es_ES', 'es_MX', 'fr_CA', 'fr_FR', 'it_IT', 'ja_JP', 'nl_NL', 'pl_PL', 'sv_SE'];

    public function testEveryMarketplaceLanguageHasAFile(): void
    {
        $files = array_map(static fn (string $f): string => basename($f, '.csv'), glob(self::MODULE . 'i18n/*.csv'));
        sort($files);
        $this->assertSame(self::LOCALES, $files);
    }

    /** @dataProvider locales */
    public function testFileHasTwoColumnsNoDuplicatesAndExactlyTheModulesTexts(string $locale): void
    {
        $keys = [];
        foreach ($this->rows($locale) as $line => $row) {
            $this->assertCount(2, $row, "$locale.csv line $line");
            [$source, $translation] = $row;
            $this->assertNotContains($source, $keys, "$locale.csv line $line: duplicate");
            $this->assertNotSame('', trim($translation), "$locale.csv line $line: empty translation");
            $this->assertTrue(mb_check_encoding($translation, 'UTF-8'), "$locale.csv line $line: not UTF-8");
            $this->assertSame($this->placeholders($source), $this->placeholders($translation), "$locale.csv line $line");
            $keys[] = $source;
        }
        $expected = $this->moduleTexts();
        sort($expected);
        sort($keys);
        $this->assertSame($expected, $keys, "$locale.csv: missing or unknown texts");
    }

    /** @dataProvider locales */
    public function testEveryStatusLabelIsTranslated(string $locale): void
    {
        $dictionary = [];
        foreach ($this->rows($locale) as $row) {
            $dictionary[$row[0]] = $row[1] ?? '';
        }
        foreach (InstallOrderStatuses::STATUSES as $status => [$label]) {
            $this->assertArrayHasKey($label, $dictionary, "$locale: $status");
            $this->assertNotSame($label, $dictionary[$label], "$locale: $status left in English");
        }
    }

    /** @return array<string, array{string}> */
    public static function locales(): array
    {
        return array_combine(self::LOCALES, array_map(static fn (string $l): array => [$l], self::LOCALES));
    }

    /** @return array<int, array<int, string|null>> line number => columns */
    private function rows(string $locale): array
    {
        $handle = fopen(self::MODULE . "i18n/$locale.csv", 'rb');
        $rows = [];
        $line = 0;
        while (($row = fgetcsv($handle, 0, ',', '"')) !== false) {
            $rows[++$line] = $row;
        }
        fclose($handle);
        $this->assertNotEmpty($rows, $locale);

        return $rows;
    }

    /** @return string[] status labels, system.xml/acl.xml texts, and the module's phrases */
    private function moduleTexts(): array
    {
        $texts = array_map(static fn (array $s): string => $s[0], array_values(InstallOrderStatuses::STATUSES));
        foreach (['etc/adminhtml/system.xml', 'etc/acl.xml'] as $file) {
            $xml = simplexml_load_file(self::MODULE . $file);
            foreach ($xml->xpath('//*[@translate]') as $node) {
                foreach (preg_split('/\s+/', trim((string) $node['translate'])) as $field) {
                    $text = isset($node->{$field}) ? (string) $node->{$field} : (string) $node[$field];
                    $texts[] = $text;
                }
            }
        }
        foreach (glob(self::MODULE . 'Model/{,*/,*/*/}*.php', GLOB_BRACE) as $php) {
            preg_match_all("/new Phrase\\(\\s*'((?:[^'\\\\]|\\\\.)*)'/", (string) file_get_contents($php), $m);
            foreach ($m[1] as $phrase) {
                $texts[] = stripslashes($phrase);
            }
        }

        return array_values(array_unique($texts));
    }

    /** @return string[] */
    private function placeholders(string $text): array
    {
        preg_match_all('/%\d+/', $text, $m);
        sort($m[0]);

        return $m[0];
    }
}
