<?php
// Test stand-in for Magento\Framework\Phrase: the dictionary of the current locale first (as
// Magento's Renderer\Translate: the text itself when it has no translation), then %1, %2
// placeholders (Renderer\Placeholder). Without setDictionary() nothing is translated.
declare(strict_types=1);

namespace Magento\Framework;

class Phrase
{
    private string $text;
    /** @var array<int|string, mixed> */
    private array $arguments;
    /** @var array<string, string>|null source text => translation of the current locale */
    private static ?array $dictionary = null;

    /** @param array<string, string>|null $dictionary */
    public static function setDictionary(?array $dictionary): void
    {
        self::$dictionary = $dictionary;
    }

    public function __construct($text, array $arguments = [])
    {
        $this->text = (string) $text;
        $this->arguments = $arguments;
    }

    public function render(): string
    {
        $out = self::$dictionary[$this->text] ?? $this->text;
        foreach (array_values($this->arguments) as $i => $argument) {
            $out = str_replace('%' . ($i + 1), (string) $argument, $out);
        }

        return $out;
    }

    public function __toString(): string
    {
        return $this->render();
    }
}
