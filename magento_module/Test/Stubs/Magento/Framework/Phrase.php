<?php
// Test stand-in for Magento\Framework\Phrase (%1, %2 placeholders as Magento's Renderer\Placeholder).
declare(strict_types=1);

namespace Magento\Framework;

class Phrase
{
    private string $text;
    /** @var array<int|string, mixed> */
    private array $arguments;

    public function __construct($text, array $arguments = [])
    {
        $this->text = (string) $text;
        $this->arguments = $arguments;
    }

    public function render(): string
    {
        $out = $this->text;
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
